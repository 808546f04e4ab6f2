/**
 * The generator's world tables: customer countries (names, cities, phone formats, mail providers,
 * currency), the countries fraud traffic comes from, and the demo merchants with their API keys.
 * The plaintext keys live only here and in the README; the stack file holds their SHA-256.
 */
import type { Currency } from '../lib/types.ts';

export interface City {
  name: string;
  /** Postal code template: `#` is a digit, `A` an upper-case letter. */
  postal: string;
}

export interface CountryProfile {
  code: string;
  currency: Currency;
  firstNames: readonly string[];
  lastNames: readonly string[];
  cities: readonly City[];
  streets: readonly string[];
  /** `{street} {n}` or `{n} {street}` */
  streetFirst: boolean;
  /** E.164 templates of valid mobile numbers: `#` is a digit. */
  phones: readonly string[];
  /** Local free-mail providers (gmail.com and outlook.com are added everywhere). */
  mail: readonly string[];
}

export const COUNTRIES: readonly CountryProfile[] = [
  {
    code: 'DE',
    currency: 'EUR',
    firstNames: [
      'Anna',
      'Lukas',
      'Marie',
      'Felix',
      'Sophie',
      'Jonas',
      'Lena',
      'Paul',
      'Hannah',
      'Leon',
      'Katrin',
      'Stefan',
    ],
    lastNames: [
      'Müller',
      'Schmidt',
      'Schneider',
      'Fischer',
      'Weber',
      'Meyer',
      'Wagner',
      'Becker',
      'Hoffmann',
      'Koch',
    ],
    cities: [
      { name: 'Berlin', postal: '10###' },
      { name: 'Hamburg', postal: '20###' },
      { name: 'München', postal: '80###' },
      { name: 'Köln', postal: '50###' },
      { name: 'Leipzig', postal: '04###' },
    ],
    streets: ['Hauptstraße', 'Bahnhofstraße', 'Gartenweg', 'Schillerstraße', 'Lindenallee', 'Bergstraße'],
    streetFirst: true,
    phones: ['+49151########', '+49160#######', '+49170########', '+49176########'],
    mail: ['gmx.de', 'web.de', 't-online.de'],
  },
  {
    code: 'FR',
    currency: 'EUR',
    firstNames: ['Camille', 'Louis', 'Léa', 'Hugo', 'Chloé', 'Lucas', 'Manon', 'Jules', 'Inès', 'Arthur'],
    lastNames: [
      'Martin',
      'Bernard',
      'Dubois',
      'Thomas',
      'Robert',
      'Richard',
      'Petit',
      'Durand',
      'Leroy',
      'Moreau',
    ],
    cities: [
      { name: 'Paris', postal: '750##' },
      { name: 'Lyon', postal: '6900#' },
      { name: 'Marseille', postal: '130##' },
      { name: 'Toulouse', postal: '310##' },
    ],
    streets: ['rue de la Paix', 'avenue Victor Hugo', 'rue des Lilas', 'boulevard Voltaire', 'rue du Moulin'],
    streetFirst: false,
    phones: ['+3361#######', '+3362#######', '+3375#######', '+3376#######'],
    mail: ['orange.fr', 'free.fr', 'laposte.net'],
  },
  {
    code: 'NL',
    currency: 'EUR',
    firstNames: ['Daan', 'Emma', 'Sem', 'Julia', 'Lucas', 'Mila', 'Finn', 'Tess', 'Levi', 'Sara'],
    lastNames: ['de Jong', 'Jansen', 'de Vries', 'van den Berg', 'Bakker', 'Visser', 'Smit', 'Meijer'],
    cities: [
      { name: 'Amsterdam', postal: '10## AA' },
      { name: 'Rotterdam', postal: '30## AB' },
      { name: 'Utrecht', postal: '35## AC' },
    ],
    streets: ['Kerkstraat', 'Dorpsstraat', 'Molenweg', 'Stationsweg', 'Prinsengracht'],
    streetFirst: true,
    phones: ['+3161#######', '+3162#######', '+3165#######'],
    mail: ['ziggo.nl', 'kpnmail.nl', 'hotmail.nl'],
  },
  {
    code: 'ES',
    currency: 'EUR',
    firstNames: [
      'Lucía',
      'Hugo',
      'Martina',
      'Mateo',
      'Sofía',
      'Pablo',
      'Elena',
      'Daniel',
      'Carmen',
      'Javier',
    ],
    lastNames: ['García', 'Fernández', 'González', 'Rodríguez', 'López', 'Martínez', 'Sánchez', 'Pérez'],
    cities: [
      { name: 'Madrid', postal: '280##' },
      { name: 'Barcelona', postal: '080##' },
      { name: 'Valencia', postal: '460##' },
      { name: 'Sevilla', postal: '410##' },
    ],
    streets: ['Calle Mayor', 'Calle de Alcalá', 'Gran Vía', 'Calle del Sol', 'Avenida de la Constitución'],
    streetFirst: true,
    phones: ['+346########'],
    mail: ['telefonica.net', 'hotmail.es', 'yahoo.es'],
  },
  {
    code: 'IT',
    currency: 'EUR',
    firstNames: ['Giulia', 'Leonardo', 'Sofia', 'Francesco', 'Aurora', 'Alessandro', 'Giorgia', 'Lorenzo'],
    lastNames: ['Rossi', 'Russo', 'Ferrari', 'Esposito', 'Bianchi', 'Romano', 'Colombo', 'Ricci'],
    cities: [
      { name: 'Roma', postal: '001##' },
      { name: 'Milano', postal: '201##' },
      { name: 'Napoli', postal: '801##' },
      { name: 'Torino', postal: '101##' },
    ],
    streets: ['Via Roma', 'Via Garibaldi', 'Corso Italia', 'Via Dante', 'Via Verdi'],
    streetFirst: true,
    phones: ['+3932#########', '+3933#########', '+3934#########'],
    mail: ['libero.it', 'virgilio.it', 'alice.it'],
  },
  {
    code: 'AT',
    currency: 'EUR',
    firstNames: ['Elias', 'Anna', 'Tobias', 'Laura', 'Maximilian', 'Lea', 'David', 'Valentina'],
    lastNames: ['Gruber', 'Huber', 'Bauer', 'Wagner', 'Pichler', 'Steiner', 'Moser', 'Mayer'],
    cities: [
      { name: 'Wien', postal: '1###' },
      { name: 'Graz', postal: '80##' },
      { name: 'Linz', postal: '40##' },
      { name: 'Salzburg', postal: '50##' },
    ],
    streets: ['Mariahilfer Straße', 'Hauptplatz', 'Kirchengasse', 'Schulgasse', 'Ringstraße'],
    streetFirst: true,
    phones: ['+43664#######', '+43676#######', '+43699########'],
    mail: ['gmx.at', 'aon.at', 'chello.at'],
  },
  {
    code: 'BE',
    currency: 'EUR',
    firstNames: ['Noah', 'Olivia', 'Arthur', 'Louise', 'Jules', 'Emma', 'Victor', 'Elise'],
    lastNames: ['Peeters', 'Janssens', 'Maes', 'Jacobs', 'Mertens', 'Willems', 'Claes', 'Goossens'],
    cities: [
      { name: 'Bruxelles', postal: '10##' },
      { name: 'Antwerpen', postal: '20##' },
      { name: 'Gent', postal: '90##' },
    ],
    streets: ['Rue Neuve', 'Kerkstraat', 'Stationsstraat', 'Avenue Louise', 'Meir'],
    streetFirst: true,
    phones: ['+3247#######', '+3248#######', '+3249#######'],
    mail: ['skynet.be', 'telenet.be', 'proximus.be'],
  },
  {
    code: 'GB',
    currency: 'GBP',
    firstNames: ['Oliver', 'Amelia', 'George', 'Isla', 'Harry', 'Ava', 'Jack', 'Emily', 'Charlie', 'Grace'],
    lastNames: ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Johnson', 'Davies', 'Evans'],
    cities: [
      { name: 'London', postal: 'SW# #AA' },
      { name: 'Manchester', postal: 'M# #AB' },
      { name: 'Bristol', postal: 'BS# #AD' },
      { name: 'Leeds', postal: 'LS# #AE' },
    ],
    streets: ['High Street', 'Station Road', 'Church Lane', 'Victoria Road', 'Park Avenue'],
    streetFirst: false,
    phones: ['+44740#######', '+44746#######', '+44771#######', '+44780#######'],
    mail: ['hotmail.co.uk', 'btinternet.com', 'yahoo.co.uk'],
  },
  {
    code: 'US',
    currency: 'USD',
    firstNames: ['James', 'Olivia', 'Liam', 'Emma', 'Noah', 'Ava', 'William', 'Sophia', 'Mason', 'Mia'],
    lastNames: ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Miller', 'Davis', 'Garcia', 'Wilson'],
    cities: [
      { name: 'New York', postal: '100##' },
      { name: 'San Francisco', postal: '941##' },
      { name: 'Chicago', postal: '606##' },
      { name: 'Austin', postal: '787##' },
    ],
    streets: ['Main Street', 'Oak Avenue', 'Maple Drive', 'Washington Street', 'Lakeview Road'],
    streetFirst: false,
    phones: ['+1212555####', '+1415234####', '+1312456####', '+1512345####'],
    mail: ['yahoo.com', 'aol.com', 'icloud.com'],
  },
  {
    code: 'CH',
    currency: 'CHF',
    firstNames: ['Noah', 'Mia', 'Luca', 'Emma', 'Leon', 'Lina', 'Matteo', 'Elena'],
    lastNames: ['Müller', 'Meier', 'Schmid', 'Keller', 'Weber', 'Huber', 'Schneider', 'Brunner'],
    cities: [
      { name: 'Zürich', postal: '80##' },
      { name: 'Genève', postal: '12##' },
      { name: 'Basel', postal: '40##' },
      { name: 'Bern', postal: '30##' },
    ],
    streets: ['Bahnhofstrasse', 'Dorfstrasse', 'Rue du Rhône', 'Seestrasse', 'Marktgasse'],
    streetFirst: true,
    phones: ['+4176#######', '+4178#######', '+4179#######'],
    mail: ['bluewin.ch', 'gmx.ch', 'sunrise.ch'],
  },
  {
    code: 'SE',
    currency: 'SEK',
    firstNames: ['Alice', 'William', 'Maja', 'Hugo', 'Elsa', 'Liam', 'Astrid', 'Oscar'],
    lastNames: ['Andersson', 'Johansson', 'Karlsson', 'Nilsson', 'Eriksson', 'Larsson', 'Olsson'],
    cities: [
      { name: 'Stockholm', postal: '11# ##' },
      { name: 'Göteborg', postal: '41# ##' },
      { name: 'Malmö', postal: '21# ##' },
    ],
    streets: ['Storgatan', 'Drottninggatan', 'Kungsgatan', 'Skolgatan', 'Kyrkogatan'],
    streetFirst: true,
    phones: ['+4670#######', '+4672#######', '+4673#######', '+4676#######'],
    mail: ['telia.com', 'hotmail.se', 'spray.se'],
  },
  {
    code: 'PL',
    currency: 'PLN',
    firstNames: ['Zuzanna', 'Antoni', 'Julia', 'Jan', 'Zofia', 'Jakub', 'Hanna', 'Szymon'],
    lastNames: ['Nowak', 'Kowalski', 'Wiśniewski', 'Wójcik', 'Kowalczyk', 'Kamiński', 'Lewandowski'],
    cities: [
      { name: 'Warszawa', postal: '00-###' },
      { name: 'Kraków', postal: '30-###' },
      { name: 'Gdańsk', postal: '80-###' },
      { name: 'Wrocław', postal: '50-###' },
    ],
    streets: ['ul. Marszałkowska', 'ul. Długa', 'ul. Polna', 'ul. Leśna', 'ul. Słoneczna'],
    streetFirst: true,
    phones: ['+4850#######', '+4851#######', '+4860#######', '+4869#######', '+4878#######'],
    mail: ['wp.pl', 'onet.pl', 'o2.pl', 'interia.pl'],
  },
];

export const COUNTRY_BY_CODE: ReadonlyMap<string, CountryProfile> = new Map(
  COUNTRIES.map((c) => [c.code, c]),
);

/** Customer countries and how many of the customers live there. */
export const COUNTRY_WEIGHTS: Readonly<Record<string, number>> = {
  DE: 24,
  FR: 14,
  GB: 12,
  NL: 8,
  IT: 8,
  ES: 8,
  US: 8,
  PL: 6,
  AT: 4,
  BE: 3,
  CH: 3,
  SE: 2,
};

/** Where fraud traffic comes from when it is not proxied through the victim's country. */
export const FRAUD_IP_COUNTRIES: readonly string[] = ['NG', 'RU', 'VN', 'BR', 'ID', 'RO', 'UA', 'PK'];

/** Used everywhere; a customer's free-mail provider is one of these or a local one. */
export const GLOBAL_MAIL: readonly string[] = ['gmail.com', 'outlook.com', 'hotmail.com', 'yahoo.com'];

/** Throwaway-mail domains (all listed by mailchecker). */
export const DISPOSABLE_MAIL: readonly string[] = [
  'mailinator.com',
  'guerrillamail.com',
  'yopmail.com',
  '10minutemail.com',
  'trashmail.com',
  'sharklasers.com',
  'dispostable.com',
  'maildrop.cc',
];

/** Own-domain mail for customers who use their employer's or family domain. */
export const COMPANY_MAIL: readonly string[] = [
  'mueller-bau.de',
  'atelier-dubois.fr',
  'vanderberg-advies.nl',
  'rossi-studio.it',
  'smithandco.co.uk',
  'lakeside-dental.com',
  'kowalski-it.pl',
];

export { EUR_PER_UNIT } from '../model/features.ts';

export type MerchantCategory = 'electronics' | 'fashion' | 'grocery' | 'digital' | 'travel';

export interface Merchant {
  merchantId: string;
  name: string;
  category: MerchantCategory;
  /** Demo API key in plaintext: only here and in the README. The stack stores sha256(apiKey). */
  apiKey: string;
  /** Median order value in EUR and the log-normal spread. */
  medianEur: number;
  sigma: number;
  /** Share of all orders going to this merchant. */
  share: number;
  /** Payment methods offered, with how often customers choose them. */
  methods: Readonly<Partial<Record<'card' | 'iban' | 'invoice' | 'paylater', number>>>;
}

export const MERCHANTS: readonly Merchant[] = [
  {
    merchantId: 'voltmarkt',
    name: 'Voltmarkt Electronics',
    category: 'electronics',
    apiKey: 'fk_demo_voltmarkt_3f9a1c7e52b84d06',
    medianEur: 180,
    sigma: 0.9,
    share: 0.25,
    methods: { card: 60, iban: 10, invoice: 15, paylater: 15 },
  },
  {
    merchantId: 'nordlicht',
    name: 'Nordlicht Fashion',
    category: 'fashion',
    apiKey: 'fk_demo_nordlicht_8b2e4f6a1d3c5079',
    medianEur: 70,
    sigma: 0.7,
    share: 0.3,
    methods: { card: 45, iban: 10, invoice: 25, paylater: 20 },
  },
  {
    merchantId: 'frischkorb',
    name: 'Frischkorb Groceries',
    category: 'grocery',
    apiKey: 'fk_demo_frischkorb_5c7d9e1f3a2b4068',
    medianEur: 45,
    sigma: 0.5,
    share: 0.2,
    methods: { card: 55, iban: 35, paylater: 10 },
  },
  {
    merchantId: 'pixelvault',
    name: 'Pixelvault Games & Gift Cards',
    category: 'digital',
    apiKey: 'fk_demo_pixelvault_1e3b5d7f9a2c4e60',
    medianEur: 25,
    sigma: 0.8,
    share: 0.15,
    methods: { card: 90, paylater: 10 },
  },
  {
    merchantId: 'skyroute',
    name: 'Skyroute Travel',
    category: 'travel',
    apiKey: 'fk_demo_skyroute_7a9c1e3f5b2d4086',
    medianEur: 420,
    sigma: 0.8,
    share: 0.1,
    methods: { card: 80, iban: 10, invoice: 10 },
  },
];

export const MERCHANT_BY_ID: ReadonlyMap<string, Merchant> = new Map(MERCHANTS.map((m) => [m.merchantId, m]));
