// The built-in email, as `replyrelay preview` writes it in every language, checked against
// caniemail.com's support data (@jsx-email/doiuse-email) for the clients visitors use most:
// Gmail, Outlook (Windows, Windows Mail, macOS, iOS, Android) and Apple Mail. A feature some of
// them lack is allowed only where the email does not depend on it: each is listed below with
// what a client without it shows instead. Anything else fails the run.
import { doIUseEmail } from '@jsx-email/doiuse-email';
import { readFileSync } from 'node:fs';

const CLIENTS = ['gmail.*', 'outlook.*', 'apple-mail.*'];
const ENHANCEMENTS = {
  '@media': 'the dark-mode styles: without them the light email, readable as it is',
  'Class selector': 'the <style> block (dark mode, link colours): inline styles carry the layout',
  'Descendant combinator': 'the same <style> block',
  'Type selector': 'the same <style> block',
  '<body> element': 'clients that swap <body> for a <div>: the outer table carries the background',
  'display:none': 'the hidden preview line: where shown, the first words of the reply above the email',
  'overflow': 'the hidden preview line, and nothing else',
  'role attribute': 'role="presentation" is for screen readers; tables lay out without it',
  'border-radius': 'square corners instead of round ones',
  'overflow-wrap': 'a long unbroken word may widen a bubble; word-break covers most clients',
  'word-break': 'the same, the other way round',
};

let failed = false;
const allowed = new Map();
for (const file of process.argv.slice(2)) {
  const result = doIUseEmail(readFileSync(file, 'utf8'), { emailClients: CLIENTS });
  for (const error of result.errors ?? []) {
    const feature = error.match(/^`(.+?)` is not supported/)?.[1];
    if (feature && feature in ENHANCEMENTS) {
      allowed.set(feature, (allowed.get(feature) ?? new Set()).add(error.replace(/.* by /, '')));
    } else {
      console.error(`${file}: ${error}`);
      failed = true;
    }
  }
}
for (const [feature, clients] of allowed) {
  console.log(`allowed: ${feature} (not in ${[...clients].join(', ')}): ${ENHANCEMENTS[feature]}`);
}
console.log(failed ? 'email lint: a feature the email depends on is unsupported' : `email lint: ${process.argv.length - 2} emails, nothing they depend on unsupported`);
process.exit(failed ? 1 : 0);
