// The typed API client: openapi-fetch over the generated schema, the bearer token from the
// session, one silent refresh-and-retry on 401, and errors as `ApiError` carrying the
// problem+json `detail` a person can read.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";
import { session } from "../session";

export type Schemas = components["schemas"];
export type Workout = Schemas["WorkoutView"];
/** One of the workout types the API knows (its selects offer only `WORKOUT_TYPES`). */
export type WorkoutType = Schemas["WorkoutType"];

export const client = createClient<paths>({ baseUrl: "" });
client.use({
  onRequest({ request }) {
    const token = session.accessToken();
    if (token) request.headers.set("authorization", `Bearer ${token}`);
    return request;
  },
});

/** One invalid field of a 422. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** An API refusal (problem+json) or a failure to reach the service at all. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly fields: FieldProblem[] = [],
  ) {
    super(message);
  }
}

interface Problem {
  detail?: string;
  title?: string;
  code?: string;
  errors?: FieldProblem[];
}

function toError(response: Response, body: unknown): ApiError {
  const problem = (typeof body === "object" && body !== null ? body : {}) as Problem;
  let message = problem.detail ?? problem.title ?? `The service answered ${response.status}.`;
  if (response.status === 429) {
    const wait = response.headers.get("retry-after");
    message = `Too many requests; try again${wait ? ` in ${wait} s` : " shortly"}.`;
  }
  return new ApiError(message, response.status, problem.code ?? null, problem.errors ?? []);
}

type Outcome<D> = { data?: D; error?: unknown; response: Response };

/**
 * Runs one API call, refreshing the session once when the access token was refused, and
 * returns its data or throws an `ApiError` (never a raw network error or stack).
 */
export async function call<D>(op: () => Promise<Outcome<D>>): Promise<D> {
  let outcome = await attempt(op);
  if (outcome.response.status === 401 && session.canRefresh()) {
    if (await session.refresh()) outcome = await attempt(op);
  }
  if (!outcome.response.ok) throw toError(outcome.response, outcome.error);
  return outcome.data as D;
}

async function attempt<D>(op: () => Promise<Outcome<D>>): Promise<Outcome<D>> {
  try {
    return await op();
  } catch {
    throw new ApiError(
      "Cannot reach the cultfit service. Check your connection; it may be restarting.",
      0,
      "unreachable",
    );
  }
}

/** A readable message for anything thrown. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return `Something went wrong: ${error.message}`;
  return "Something went wrong.";
}
