import { json } from "../../lib/respond";

// A static route: /api/users/me is this file, never [id].ts.
export const onRequest = () => json({ user: "me" });
