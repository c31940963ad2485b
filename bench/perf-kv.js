// bench/perf.mjs only: an in-memory KV service for plain workerd. workerd turns a kvNamespace
// binding's calls into HTTP requests to the service it names (GET /<url-encoded key> for get); this
// answers them from the JSON object bound as DATA (key → value), read-only.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    if (request.method !== "GET") return new Response("read-only", { status: 405 });
    const value = env.DATA[key];
    return value === undefined ? new Response(null, { status: 404 }) : new Response(value);
  },
};
