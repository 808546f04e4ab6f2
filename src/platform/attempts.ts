/** One step that failed among steps that are each tried whatever the others do. */
export interface FailedStep {
  object: string;
  error: string;
}

/**
 * For work where every step is tried even when an earlier one failed (tearing down, sweeping
 * leftovers): `attempt` runs one step and answers whether it succeeded; `failed` lists the rest.
 */
export function attempts(): {
  attempt: (object: string, step: () => unknown) => Promise<boolean>;
  failed: FailedStep[];
} {
  const failed: FailedStep[] = [];
  return {
    failed,
    async attempt(object, step) {
      try {
        await step();
        return true;
      } catch (e) {
        failed.push({ object, error: e instanceof Error ? e.message : String(e) });
        return false;
      }
    },
  };
}
