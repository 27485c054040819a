import { json, jsonError } from "../../lib/respond";

export function onRequestGet({ params }) {
  return json({ user: params.id });
}

export function onRequestDelete({ params }) {
  if (params.id === "admin") return jsonError(403, "admin cannot be deleted");
  return new Response(null, { status: 204 });
}
