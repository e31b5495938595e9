export const msRole = {} as never;
