# registry-mirror: multi-stage build, non-root runtime, data on a volume.
#   docker build -t registry-mirror .
#   docker run -d -p 5000:5000 -v mirror-data:/var/lib/registry-mirror registry-mirror
# Your own config: mount a folder holding mirror.config.yaml (and htpasswd, certs/) at
# /etc/registry-mirror; see docker-compose.yml. Nothing here overrides its keys with ENV.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` (the TypeScript build) needs src/, copied below,
# so the dependency layer stays cached across source changes; better-sqlite3 is built here.
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm rebuild better-sqlite3
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY public ./public
# The image's default config is the commented example with its data on the volume: the
# listen address and storage path live in the file (not in ENV), so a mounted config's own
# http.addr and storage.path apply. MIRROR_* variables still override either, as anywhere.
COPY mirror.config.yaml /etc/registry-mirror/mirror.config.yaml
RUN sed -i 's#^  path: ./data$#  path: /var/lib/registry-mirror#' /etc/registry-mirror/mirror.config.yaml \
 && grep -q '^  path: /var/lib/registry-mirror$' /etc/registry-mirror/mirror.config.yaml \
 && mkdir -p /var/lib/registry-mirror \
 && chown node:node /var/lib/registry-mirror
USER node
VOLUME ["/var/lib/registry-mirror"]
EXPOSE 5000
# Reads the same config (and MIRROR_* variables) as the server: follows its port, and
# speaks https when http.tls is set.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "dist/main.js", "healthcheck", "--config", "/etc/registry-mirror/mirror.config.yaml"]
# node is PID 1 (exec form, no shell or npm in between): SIGTERM from `docker stop` reaches
# the server, which stops accepting, finishes what it can and closes the index.
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve", "--config", "/etc/registry-mirror/mirror.config.yaml"]
