/** `registry:5000/repo/name:1.2.3@sha256:...` -> `1.2.3`; no tag means `latest`. */
export function imageTag(image: string): string {
  const withoutDigest = image.split('@')[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  return lastColon > lastSlash ? withoutDigest.slice(lastColon + 1) : 'latest';
}
