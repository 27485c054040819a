// Helpers shared by the handlers. No onRequest export, so no route.
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

export function jsonError(status: number, message: string): Response {
  return json({ error: message }, status);
}
