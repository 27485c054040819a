// API middleware: refuses a revoked key and marks the trail. Runs after the
// root middleware, before any /api handler.
import { jsonError } from "../lib/respond";

export async function onRequest(context) {
  if (context.request.headers.get("x-api-key") === "revoked") {
    return jsonError(401, "revoked key");
  }
  context.data.trail.push("api");
  return context.next();
}
