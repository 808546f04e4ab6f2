export { LogJournal } from './journal.ts';
export type { LogLine, LogQuery, LogSource } from './journal.ts';
