/**
 * The registry API's paths, parsed from the end: repository names contain slashes, so
 * the last /manifests/, /blobs/, /tags/ or /referrers/ segment splits name from the rest.
 */
export type V2Route =
  | { kind: 'ping' }
  | { kind: 'catalog' }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'upload-start'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string }
  | { kind: 'unknown' };

const ROUTE_RE = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/(.*)$/;

export function parseV2Path(path: string): V2Route {
  if (path === '/v2' || path === '/v2/') return { kind: 'ping' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  const m = ROUTE_RE.exec(path);
  if (!m) return { kind: 'unknown' };
  const [, name, section, rest] = m as unknown as [string, string, string, string];
  switch (section) {
    case 'manifests':
      return rest && !rest.includes('/') ? { kind: 'manifest', name, reference: rest } : { kind: 'unknown' };
    case 'tags':
      return rest === 'list' ? { kind: 'tags', name } : { kind: 'unknown' };
    case 'referrers':
      return rest && !rest.includes('/') ? { kind: 'referrers', name, digest: rest } : { kind: 'unknown' };
    default: {
      if (rest === 'uploads' || rest === 'uploads/') return { kind: 'upload-start', name };
      const upload = /^uploads\/([^/]+)$/.exec(rest);
      if (upload) return { kind: 'upload', name, id: upload[1]! };
      return rest && !rest.includes('/') ? { kind: 'blob', name, digest: rest } : { kind: 'unknown' };
    }
  }
}
