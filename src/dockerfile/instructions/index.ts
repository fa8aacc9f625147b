export { convertNode, INSTRUCTION_KEYWORDS, rangeOfNode } from './convert.js';
export { formatGoDuration, parseGoDuration } from './duration.js';
export { toStages } from './stages.js';
export type * from './types.js';
