export const clientRole = {} as never;
