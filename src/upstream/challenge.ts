/**
 * Parsing of `WWW-Authenticate` challenges (RFC 9110 §11.6.1), as registries send them:
 *
 *   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"
 *   Basic realm="Registry Realm"
 *
 * Quoted values may contain commas (`scope="repository:a:pull,push"`) and escaped quotes,
 * and one header value may carry several challenges, so a naive split on "," is wrong.
 * Pure: no I/O.
 * https://distribution.github.io/distribution/spec/auth/token/
 */

/** One challenge: the scheme (lower-cased) and its auth-params (names lower-cased). */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** The fields of a Bearer challenge the token flow needs. */
export interface BearerChallenge {
  /** URL of the token service; taken from the upstream, never hard-coded. */
  readonly realm: string;
  readonly service?: string;
  /** The challenge's scope split on spaces (one entry per `scope` query parameter); empty when absent. */
  readonly scopes: readonly string[];
  /** e.g. "invalid_token", "insufficient_scope". */
  readonly error?: string;
}

// RFC 9110 token characters.
const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
// token68 (used by schemes such as Negotiate) adds "/" and trailing "=" padding.
const TOKEN68_CHAR = /[0-9A-Za-z\-._~+/]/;

/**
 * Parses one or more `WWW-Authenticate` header values into challenges, in order.
 * Malformed input never throws: whatever could be read is returned.
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = typeof header === 'string' ? [header] : header;
  const out: Challenge[] = [];
  for (const value of values) out.push(...parseOne(value));
  return out;
}

function parseOne(input: string): Challenge[] {
  const challenges: Challenge[] = [];
  let pos = 0;

  const skip = (chars: RegExp): void => {
    while (pos < input.length && chars.test(input[pos]!)) pos++;
  };
  const readToken = (): string => {
    const start = pos;
    while (pos < input.length && TOKEN_CHAR.test(input[pos]!)) pos++;
    return input.slice(start, pos);
  };
  const readQuoted = (): string => {
    // pos is on the opening quote. A backslash escapes the next character (quoted-pair).
    pos++;
    let value = '';
    while (pos < input.length && input[pos] !== '"') {
      if (input[pos] === '\\' && pos + 1 < input.length) pos++;
      value += input[pos];
      pos++;
    }
    pos++; // closing quote (or past the end when unterminated)
    return value;
  };

  while (pos < input.length) {
    skip(/[\s,]/);
    const scheme = readToken();
    if (!scheme) {
      pos++; // garbage character: step over it rather than loop forever
      continue;
    }
    const params: Record<string, string> = {};
    skip(/[ \t]/);

    // token68 form (`Negotiate abc==`): not used by registries; skip it.
    // It can only be told from `name=value` by what follows the "=" padding: "," or the end.
    if (/^[0-9A-Za-z\-._~+/]+=*\s*(,|$)/.test(input.slice(pos))) {
      while (pos < input.length && (TOKEN68_CHAR.test(input[pos]!) || input[pos] === '=')) pos++;
      challenges.push({ scheme: scheme.toLowerCase(), params });
      continue;
    }

    // auth-params: name=value pairs separated by commas, until a token that is not
    // followed by "=" (the start of the next challenge) or the end.
    for (;;) {
      const save = pos;
      skip(/[\s,]/);
      const name = readToken();
      skip(/[ \t]/);
      if (!name || input[pos] !== '=') {
        pos = save;
        break;
      }
      pos++; // "="
      skip(/[ \t]/);
      const value = input[pos] === '"' ? readQuoted() : readToken();
      params[name.toLowerCase()] = value;
    }
    challenges.push({ scheme: scheme.toLowerCase(), params });
  }
  return challenges;
}

/**
 * The first Bearer challenge with a usable realm (an http(s) URL), or undefined.
 * A realm that is not http(s) is ignored: we would otherwise send credentials to it.
 */
export function findBearerChallenge(challenges: readonly Challenge[]): BearerChallenge | undefined {
  for (const c of challenges) {
    if (c.scheme !== 'bearer') continue;
    const realm = c.params['realm'];
    if (!realm || !/^https?:\/\//i.test(realm)) continue;
    const scope = c.params['scope'];
    return {
      realm,
      ...(c.params['service'] !== undefined ? { service: c.params['service'] } : {}),
      // Several scopes travel space-separated in one challenge parameter.
      scopes: scope ? scope.split(' ').filter((s) => s.length > 0) : [],
      ...(c.params['error'] !== undefined ? { error: c.params['error'] } : {}),
    };
  }
  return undefined;
}

/** True when the challenges include a Basic one. */
export function hasBasicChallenge(challenges: readonly Challenge[]): boolean {
  return challenges.some((c) => c.scheme === 'basic');
}
