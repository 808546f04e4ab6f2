/**
 * A fixed synthetic population: person `i` is always the same name, date of birth and address, on
 * every machine. The credit bureau (`bureauPerson`) and the velocity history (`seedCustomer`) draw
 * from it, so a customer of the history may also have a bureau file, as in life. Deterministic
 * and pure: a person is computed from its index, nothing is stored.
 */
import type { Address } from '../lib/types.ts';

/** A uniform draw in [0, 1). */
export type Rand = () => number;

/** mulberry32: tiny and fast; for synthetic data, not for secrets. */
export function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A PRNG for (stream, index): independent streams never share draws. */
export function streamRand(stream: string, index: number, seed = 0): Rand {
  let h = 0x811c9dc5 ^ seed;
  for (const s of [stream, String(index)]) {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x7c, 0x01000193);
  }
  return mulberry32(h >>> 0);
}

export function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

interface CountryData {
  weight: number;
  first: readonly string[];
  last: readonly string[];
  /** [city, postal template]: `#` a digit, `A` a capital letter. */
  cities: readonly (readonly [string, string])[];
  streets: readonly string[];
  /** `12 Rue de Rivoli` rather than `Hauptstraße 12`. */
  numberFirst: boolean;
  mail: readonly string[];
}

const DE_FIRST = ['Anna', 'Lukas', 'Marie', 'Felix', 'Sophie', 'Jonas', 'Lena', 'Paul', 'Hannah', 'Leon', 'Katrin', 'Stefan', 'Julia', 'Tobias'];
const DE_LAST = ['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Hoffmann', 'Koch', 'Schäfer', 'Bauer'];
const DE_STREETS = ['Hauptstraße', 'Bahnhofstraße', 'Gartenweg', 'Schillerstraße', 'Lindenallee', 'Bergstraße', 'Dorfstraße', 'Ringstraße'];
const EN_FIRST = ['Oliver', 'Amelia', 'George', 'Olivia', 'Harry', 'Emily', 'James', 'Sophia', 'William', 'Grace', 'Daniel', 'Chloe'];
const EN_LAST = ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Johnson', 'Davies', 'Miller', 'Evans', 'Clark', 'Walker'];

export const COUNTRY_DATA: Readonly<Record<string, CountryData>> = {
  DE: {
    weight: 24, first: DE_FIRST, last: DE_LAST, streets: DE_STREETS, numberFirst: false,
    cities: [['Berlin', '10###'], ['Hamburg', '20###'], ['München', '80###'], ['Köln', '50###'], ['Leipzig', '04###'], ['Frankfurt am Main', '60###']],
    mail: ['gmx.de', 'web.de', 't-online.de', 'gmail.com', 'outlook.de', 'posteo.de'],
  },
  FR: {
    weight: 14, numberFirst: true,
    first: ['Camille', 'Louis', 'Léa', 'Gabriel', 'Chloé', 'Hugo', 'Manon', 'Jules', 'Inès', 'Arthur', 'Élodie', 'Théo'],
    last: ['Martin', 'Bernard', 'Dubois', 'Thomas', 'Robert', 'Richard', 'Petit', 'Durand', 'Leroy', 'Moreau', 'Lefèvre', 'Girard'],
    cities: [['Paris', '750##'], ['Lyon', '6900#'], ['Marseille', '130##'], ['Toulouse', '310##'], ['Nantes', '440##'], ['Lille', '590##']],
    streets: ['Rue de la République', 'Avenue Victor Hugo', 'Rue du Moulin', 'Boulevard Voltaire', 'Rue des Écoles', 'Rue Pasteur'],
    mail: ['orange.fr', 'free.fr', 'laposte.net', 'gmail.com', 'sfr.fr', 'hotmail.fr'],
  },
  GB: {
    weight: 12, numberFirst: true, first: EN_FIRST, last: EN_LAST,
    cities: [['London', 'SW# #AA'], ['Manchester', 'M# #AA'], ['Bristol', 'BS# #AA'], ['Leeds', 'LS# #AA'], ['Glasgow', 'G# #AA']],
    streets: ['High Street', 'Station Road', 'Church Lane', 'Victoria Road', 'Park Avenue', 'Mill Lane'],
    mail: ['gmail.com', 'btinternet.com', 'hotmail.co.uk', 'yahoo.co.uk', 'sky.com', 'outlook.com'],
  },
  NL: {
    weight: 8, numberFirst: false,
    first: ['Daan', 'Emma', 'Sem', 'Julia', 'Lucas', 'Mila', 'Finn', 'Tess', 'Bram', 'Sanne'],
    last: ['de Jong', 'Jansen', 'de Vries', 'van den Berg', 'Bakker', 'Visser', 'Smit', 'Meijer', 'de Boer', 'Mulder'],
    cities: [['Amsterdam', '10## AA'], ['Rotterdam', '30## AA'], ['Utrecht', '35## AA'], ['Den Haag', '25## AA'], ['Eindhoven', '56## AA']],
    streets: ['Kerkstraat', 'Dorpsstraat', 'Molenweg', 'Stationsweg', 'Julianastraat', 'Schoolstraat'],
    mail: ['ziggo.nl', 'kpnmail.nl', 'gmail.com', 'hotmail.com', 'outlook.com', 'live.nl'],
  },
  IT: {
    weight: 8, numberFirst: false,
    first: ['Giulia', 'Francesco', 'Sofia', 'Alessandro', 'Aurora', 'Lorenzo', 'Martina', 'Matteo', 'Chiara', 'Andrea'],
    last: ['Rossi', 'Russo', 'Ferrari', 'Esposito', 'Bianchi', 'Romano', 'Colombo', 'Ricci', 'Marino', 'Greco'],
    cities: [['Roma', '001##'], ['Milano', '201##'], ['Napoli', '801##'], ['Torino', '101##'], ['Bologna', '401##']],
    streets: ['Via Roma', 'Via Garibaldi', 'Corso Italia', 'Via Mazzini', 'Via Dante', 'Piazza della Libertà'],
    mail: ['libero.it', 'virgilio.it', 'gmail.com', 'alice.it', 'hotmail.it', 'tiscali.it'],
  },
  ES: {
    weight: 8, numberFirst: false,
    first: ['Lucía', 'Hugo', 'María', 'Martín', 'Paula', 'Pablo', 'Daniela', 'Álvaro', 'Carmen', 'Javier'],
    last: ['García', 'Rodríguez', 'González', 'Fernández', 'López', 'Martínez', 'Sánchez', 'Pérez', 'Gómez', 'Ruiz'],
    cities: [['Madrid', '280##'], ['Barcelona', '080##'], ['Valencia', '460##'], ['Sevilla', '410##'], ['Bilbao', '480##']],
    streets: ['Calle Mayor', 'Calle Real', 'Avenida de la Constitución', 'Calle del Sol', 'Gran Vía', 'Calle Nueva'],
    mail: ['gmail.com', 'hotmail.es', 'yahoo.es', 'telefonica.net', 'outlook.es'],
  },
  US: {
    weight: 8, numberFirst: true, first: EN_FIRST, last: EN_LAST,
    cities: [['New York', '100##'], ['Chicago', '606##'], ['Austin', '787##'], ['Seattle', '981##'], ['Boston', '021##'], ['Denver', '802##']],
    streets: ['Main Street', 'Oak Avenue', 'Maple Drive', 'Washington Street', 'Elm Street', 'Lake Road'],
    mail: ['gmail.com', 'yahoo.com', 'outlook.com', 'icloud.com', 'comcast.net', 'aol.com'],
  },
  PL: {
    weight: 6, numberFirst: false,
    first: ['Zuzanna', 'Jakub', 'Julia', 'Antoni', 'Maja', 'Jan', 'Zofia', 'Szymon', 'Łucja', 'Wojciech'],
    last: ['Nowak', 'Kowalski', 'Wiśniewski', 'Wójcik', 'Kowalczyk', 'Kamiński', 'Lewandowski', 'Zieliński', 'Szymański', 'Woźniak'],
    cities: [['Warszawa', '00-###'], ['Kraków', '30-###'], ['Wrocław', '50-###'], ['Poznań', '60-###'], ['Gdańsk', '80-###']],
    streets: ['ul. Długa', 'ul. Polna', 'ul. Leśna', 'ul. Słoneczna', 'ul. Krótka', 'ul. Szkolna'],
    mail: ['wp.pl', 'o2.pl', 'onet.pl', 'interia.pl', 'gmail.com'],
  },
  AT: {
    weight: 4, first: DE_FIRST, last: [...DE_LAST, 'Gruber', 'Huber', 'Pichler'], streets: DE_STREETS, numberFirst: false,
    cities: [['Wien', '1###'], ['Graz', '80##'], ['Linz', '40##'], ['Salzburg', '50##'], ['Innsbruck', '60##']],
    mail: ['gmx.at', 'aon.at', 'chello.at', 'gmail.com', 'outlook.com'],
  },
  BE: {
    weight: 3, numberFirst: false,
    first: ['Noah', 'Olivia', 'Arthur', 'Louise', 'Jules', 'Mila', 'Lucas', 'Elena', 'Victor', 'Lina'],
    last: ['Peeters', 'Janssens', 'Maes', 'Jacobs', 'Mertens', 'Willems', 'Claes', 'Goossens', 'Dubois', 'Lambert'],
    cities: [['Bruxelles', '10##'], ['Antwerpen', '20##'], ['Gent', '90##'], ['Liège', '40##'], ['Brugge', '80##']],
    streets: ['Kerkstraat', 'Rue de la Station', 'Stationsstraat', 'Rue Haute', 'Nieuwstraat', 'Avenue Louise'],
    mail: ['telenet.be', 'skynet.be', 'gmail.com', 'hotmail.com', 'outlook.com'],
  },
  CH: {
    weight: 3, first: [...DE_FIRST, 'Luca', 'Noemi'], last: ['Meier', 'Keller', 'Brunner', 'Baumann', 'Frei', 'Zimmermann', 'Moser', 'Widmer'],
    streets: ['Bahnhofstrasse', 'Dorfstrasse', 'Seestrasse', 'Kirchweg', 'Hauptstrasse'], numberFirst: false,
    cities: [['Zürich', '80##'], ['Genève', '12##'], ['Basel', '40##'], ['Bern', '30##'], ['Lausanne', '10##']],
    mail: ['bluewin.ch', 'gmx.ch', 'sunrise.ch', 'gmail.com', 'hispeed.ch'],
  },
  SE: {
    weight: 2, numberFirst: false,
    first: ['Alice', 'William', 'Maja', 'Oscar', 'Elsa', 'Lucas', 'Astrid', 'Hugo', 'Saga', 'Erik'],
    last: ['Andersson', 'Johansson', 'Karlsson', 'Nilsson', 'Eriksson', 'Larsson', 'Olsson', 'Persson', 'Svensson', 'Gustafsson'],
    cities: [['Stockholm', '11# ##'], ['Göteborg', '41# ##'], ['Malmö', '21# ##'], ['Uppsala', '75# ##'], ['Lund', '22# ##']],
    streets: ['Storgatan', 'Kungsgatan', 'Drottninggatan', 'Skolgatan', 'Kyrkogatan', 'Järnvägsgatan'],
    mail: ['telia.com', 'gmail.com', 'hotmail.com', 'outlook.com', 'spray.se'],
  },
};

export const PERSON_COUNTRIES: readonly string[] = Object.keys(COUNTRY_DATA);
const TOTAL_WEIGHT = PERSON_COUNTRIES.reduce((s, c) => s + COUNTRY_DATA[c]!.weight, 0);

function country(rand: Rand): string {
  let x = rand() * TOTAL_WEIGHT;
  for (const c of PERSON_COUNTRIES) {
    x -= COUNTRY_DATA[c]!.weight;
    if (x < 0) return c;
  }
  return PERSON_COUNTRIES[0]!;
}

export function fillTemplate(rand: Rand, template: string): string {
  let s = '';
  for (const ch of template) s += ch === '#' ? String(Math.floor(rand() * 10)) : ch === 'A' ? String.fromCharCode(65 + Math.floor(rand() * 26)) : ch;
  return s;
}

/** A street address in `country` (one of `PERSON_COUNTRIES`). */
export function addressIn(country: string, rand: Rand): Address {
  const data = COUNTRY_DATA[country];
  if (!data) throw new RangeError(`no address data for '${country}'`);
  const [city, postal] = pick(rand, data.cities);
  const street = pick(rand, data.streets);
  const number = 1 + Math.floor(rand() * 120);
  return {
    line1: data.numberFirst ? `${number} ${street}` : `${street} ${number}`,
    city,
    postalCode: fillTemplate(rand, postal),
    country,
  };
}

export interface Person {
  index: number;
  firstName: string;
  lastName: string;
  name: string;
  /** YYYY-MM-DD */
  dateOfBirth: string;
  address: Address;
  /** Where this person has mail (free-mail providers of their country). */
  mailDomains: readonly string[];
}

/** Person `index` of the fixed population (any index ≥ 0). */
export function syntheticPerson(index: number): Person {
  const rand = streamRand('person', index);
  const code = country(rand);
  const data = COUNTRY_DATA[code]!;
  const firstName = pick(rand, data.first);
  const lastName = pick(rand, data.last);
  const address = addressIn(code, rand);
  const year = 1945 + Math.floor(rand() * 61);
  const month = 1 + Math.floor(rand() * 12);
  const day = 1 + Math.floor(rand() * 28);
  return {
    index,
    firstName,
    lastName,
    name: `${firstName} ${lastName}`,
    dateOfBirth: `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`,
    address,
    mailDomains: data.mail,
  };
}
