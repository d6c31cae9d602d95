// A local stand-in for the Hugging Face Hub, enough for `hearth pull` (src/hub/hub_client.cpp;
// tests/hub/fake_hub.cpp is the C++ tests' fuller one): GET /api/models/OWNER/REPO describes a
// repo and its files with their sha256, GET and HEAD /OWNER/REPO/resolve/REV/FILE serve the
// bytes, honouring Range. Whole-file downloads are throttled so a progress bar has time to
// move; the header read `pull` starts with (a Range request) is not.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const CHUNK = 16 * 1024;
const CHUNK_DELAY_MS = 40; // about 400 KiB/s

// repos: { 'owner/repo': { 'file.gguf': Buffer } }. Resolves to { url, requests, close() }.
export async function startFakeHub(port, repos) {
  const commit = '1234567890abcdef1234567890abcdef12345678';
  const sha = new Map();
  for (const files of Object.values(repos))
    for (const bytes of Object.values(files)) sha.set(bytes, createHash('sha256').update(bytes).digest('hex'));
  const requests = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://hub');
    requests.push(`${req.method} ${url.pathname}${req.headers.range ? ` Range: ${req.headers.range}` : ''}`);
    const info = /^\/api\/models\/([^/]+\/[^/]+)(?:\/revision\/[^/]+)?$/.exec(url.pathname);
    if (info && repos[info[1]]) {
      const siblings = Object.entries(repos[info[1]]).map(([name, bytes]) => ({
        rfilename: name, size: bytes.length, lfs: { sha256: sha.get(bytes), size: bytes.length },
      }));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: info[1], sha: commit, gated: false, tags: ['gguf'], siblings }));
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/.exec(url.pathname);
    const bytes = resolve && repos[resolve[1]] && repos[resolve[1]][decodeURIComponent(resolve[2])];
    if (!bytes) {
      res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'X-Error-Message': 'not here' });
      res.end();
      return;
    }
    const headers = {
      'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', 'X-Repo-Commit': commit,
      ETag: `"${sha.get(bytes)}"`, 'X-Linked-Etag': `"${sha.get(bytes)}"`, 'X-Linked-Size': String(bytes.length),
    };
    let start = 0;
    let end = bytes.length - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), end) : end;
      if (start > end) {
        res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` });
        res.end();
        return;
      }
      headers['Content-Range'] = `bytes ${start}-${end}/${bytes.length}`;
    }
    headers['Content-Length'] = String(end - start + 1);
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (range) {
      res.end(bytes.subarray(start, end + 1));
      return;
    }
    let at = start;
    const timer = setInterval(() => {
      if (res.destroyed) {
        clearInterval(timer);
        return;
      }
      const next = Math.min(end + 1, at + CHUNK);
      res.write(bytes.subarray(at, next));
      at = next;
      if (at > end) {
        clearInterval(timer);
        res.end();
      }
    }, CHUNK_DELAY_MS);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}
