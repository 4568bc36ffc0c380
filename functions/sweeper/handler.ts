// Placeholder until the handler lands (being written now); infra bundles this entry.
export const handler = async (_event: unknown): Promise<never> => {
  throw new Error('not implemented yet');
};
