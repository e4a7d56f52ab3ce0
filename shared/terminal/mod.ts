/**
 * Terminal prompts for CLIs. Passwords are never echoed: always read them
 * with {@linkcode promptSecret}, never with a plain line read.
 *
 * ```ts ignore
 * import { promptLine, promptSecret, PromptInterruptedError } from "@mc/mcdsl/terminal";
 *
 * try {
 *   const username = await promptLine("Username: ");
 *   const password = await promptSecret("Password: ");
 * } catch (error) {
 *   if (error instanceof PromptInterruptedError) Deno.exit(130);
 *   throw error;
 * }
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./prompt_io.ts";
export * from "./prompt_secret.ts";
export * from "./prompt_line.ts";
export * from "./confirm.ts";
