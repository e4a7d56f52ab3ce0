/** The message of an unknown thrown value, for wrapping it in a clearer error. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
