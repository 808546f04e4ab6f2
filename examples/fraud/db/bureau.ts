/**
 * The synthetic credit bureau: for person `i` of the fixed population (people.ts), the payment
 * history a bureau would hold. Only the credit service loads it (data class `credit-bureau`); the
 * generator may call `bureauPerson` to make customers the bureau knows, and read their file to
 * label its data, never to send it anywhere.
 */
import { streamRand, syntheticPerson, type Person } from './people.ts';

export interface BureauRecord {
  openAccounts: number;
  /** Accounts defaulted in the last 36 months. */
  defaults36m: number;
  /** Payments more than 30 days late in the last 12 months. */
  latePayments12m: number;
  /** Credit applications in the last 6 months. */
  inquiries6m: number;
  /** Age of the oldest account: a thin file says little. */
  monthsOnFile: number;
}

export interface BureauPerson extends Person {
  record: BureauRecord;
}

// Ages are taken at a fixed date so the bureau is identical whenever it is built.
const REFERENCE_YEAR = 2025;

/**
 * The bureau file of person `index`. Roughly: 84% never defaulted, 11% once, 5% more; 72% never
 * late, a few chronically; 8% with many recent applications; the file's age grows with the person's.
 */
export function bureauRecord(index: number, dateOfBirth: string): BureauRecord {
  const rand = streamRand('bureau', index);
  const adultMonths = Math.max(1, (REFERENCE_YEAR - Number(dateOfBirth.slice(0, 4)) - 18) * 12);
  const d = rand();
  const l = rand();
  const q = rand();
  return {
    openAccounts: Math.floor(rand() ** 1.5 * 9),
    defaults36m: d < 0.84 ? 0 : d < 0.95 ? 1 : 2 + Math.floor(rand() * 3),
    latePayments12m: l < 0.72 ? 0 : l < 0.9 ? 1 + Math.floor(rand() * 2) : 3 + Math.floor(rand() * 6),
    inquiries6m: q < 0.92 ? Math.floor(rand() * 4) : 5 + Math.floor(rand() * 8),
    monthsOnFile: Math.max(1, Math.min(adultMonths, Math.floor(rand() * 360))),
  };
}

/** Person `index` with their bureau file. The bureau holds persons `0 … persons-1` (config `seed.persons`). */
export function bureauPerson(index: number): BureauPerson {
  const person = syntheticPerson(index);
  return { ...person, record: bureauRecord(index, person.dateOfBirth) };
}
