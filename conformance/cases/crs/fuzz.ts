export const crsFuzzCases = [] as never[];
