// Module resolution hook for a source checkout of Floe: resolves with the `floe-source` export
// condition, so `floe`, `floe/lambda`, ... resolve to the TypeScript sources instead of dist/
// (what `node --conditions=floe-source` does, for a process that has already started).
export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes('floe-source')
    ? context.conditions
    : [...context.conditions, 'floe-source'];
  return nextResolve(specifier, { ...context, conditions });
}
