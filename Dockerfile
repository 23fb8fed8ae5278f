# registry-mirror: multi-stage build, non-root runtime, data on a volume.
#   docker build -t registry-mirror .
#   docker run -d -p 5000:5000 -v mirror-data:/var/lib/registry-mirror registry-mirror

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    MIRROR_HTTP_ADDR=0.0.0.0:5000 \
    MIRROR_STORAGE_PATH=/var/lib/registry-mirror
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json mirror.config.yaml ./
COPY migrations ./migrations
RUN mkdir -p /var/lib/registry-mirror && chown node:node /var/lib/registry-mirror
USER node
VOLUME ["/var/lib/registry-mirror"]
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve", "--config", "/app/mirror.config.yaml"]
