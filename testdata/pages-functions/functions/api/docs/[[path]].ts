import { json } from "../../lib/respond";

// Every depth below /api/docs: params.path is the list of segments.
export const onRequest = ({ params, functionPath }) =>
  json({ docs: params.path ?? [], functionPath });
