// The settings store: defaults, validation of every known key, unknown keys
// kept as given, serialize/load round trips, corrupt blobs, the framing
// snapshot taken when a connection opens, and a store per Settings.
import { describe, it, expect, beforeEach } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { core, Core } from '../src/core.js';
import { Settings } from '../src/settings.js';
import { InvalidSettingError } from '../src/errors.js';

const c = core();
const settings = new Settings();

type Kind =
  | { kind: 'int'; min: number; max: number }
  | { kind: 'num'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'str'; min: number; max: number }
  | { kind: 'enum'; choices: string[] };

interface Known {
  def: string | number | boolean;
  allowed: string;
  type: Kind;
}

const U31 = 2147483647;

/** The schema of assembly/settings.ts defineSchema(), restated. */
const KNOWN: Record<string, Known> = {
  ip: { def: '0.0.0.0', allowed: 'an IPv4 or IPv6 address', type: { kind: 'str', min: 0, max: 255 } },
  port: { def: 0, allowed: 'an integer from 0 to 65535', type: { kind: 'int', min: 0, max: 65535 } },
  protocol: {
    def: 'raw',
    allowed: 'one of raw, eof, length, http',
    type: { kind: 'enum', choices: ['raw', 'eof', 'length', 'http'] },
  },
  package_eof: { def: '\r\n', allowed: 'a string of 1 to 8 bytes', type: { kind: 'str', min: 1, max: 8 } },
  package_length_type: {
    def: 'N',
    allowed: 'one of the pack codes c, C, s, S, n, v, l, L, N, V',
    type: { kind: 'enum', choices: ['c', 'C', 's', 'S', 'n', 'v', 'l', 'L', 'N', 'V'] },
  },
  package_length_offset: { def: 0, allowed: 'an integer from 0 to 65535', type: { kind: 'int', min: 0, max: 65535 } },
  package_body_offset: { def: 4, allowed: 'an integer from 0 to 65535', type: { kind: 'int', min: 0, max: 65535 } },
  package_max_length: {
    def: 2097152,
    allowed: 'an integer from 1 to 1073741824',
    type: { kind: 'int', min: 1, max: 1073741824 },
  },
  process_number: { def: 1, allowed: 'an integer from 1 to 1024', type: { kind: 'int', min: 1, max: 1024 } },
  master_name: { def: 'tcp-prefork master', allowed: 'a string of at most 1024 bytes', type: { kind: 'str', min: 0, max: 1024 } },
  worker_name: { def: 'tcp-prefork worker', allowed: 'a string of at most 1024 bytes', type: { kind: 'str', min: 0, max: 1024 } },
  max_wait_time: { def: 3, allowed: 'a number of seconds from 0 to 86400', type: { kind: 'num', min: 0, max: 86400 } },
  dispatch_mode: {
    def: 'hybrid',
    allowed: 'one of shared, round_robin, hybrid, reuseport',
    type: { kind: 'enum', choices: ['shared', 'round_robin', 'hybrid', 'reuseport'] },
  },
  max_conn: { def: 1024, allowed: 'an integer from 1 to 2147483647', type: { kind: 'int', min: 1, max: U31 } },
  heartbeat_idle_time: {
    def: 0,
    allowed: 'a number of seconds from 0 (off) to 86400',
    type: { kind: 'num', min: 0, max: 86400 },
  },
  socket_buffer_size: { def: 2097152, allowed: 'an integer from 1 to 2147483647', type: { kind: 'int', min: 1, max: U31 } },
  max_request: { def: 0, allowed: 'an integer from 0 (off) to 2147483647', type: { kind: 'int', min: 0, max: U31 } },
  backlog: { def: 511, allowed: 'an integer from 1 to 65535', type: { kind: 'int', min: 1, max: 65535 } },
  pid_file: { def: '', allowed: 'a path of at most 4096 bytes', type: { kind: 'str', min: 0, max: 4096 } },
  proxy_protocol: { def: false, allowed: 'a boolean', type: { kind: 'bool' } },
  ssl_cert_file: { def: '', allowed: 'a path of at most 4096 bytes', type: { kind: 'str', min: 0, max: 4096 } },
  ssl_key_file: { def: '', allowed: 'a path of at most 4096 bytes', type: { kind: 'str', min: 0, max: 4096 } },
  log_level: { def: 'info', allowed: 'one of info, error, silent', type: { kind: 'enum', choices: ['info', 'error', 'silent'] } },
  input_buffer_limit: {
    def: 268435456,
    allowed: 'an integer from 0 (off) to 9007199254740991',
    type: { kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER },
  },
  http_auto_continue: { def: true, allowed: 'a boolean', type: { kind: 'bool' } },
  http_error_replies: { def: true, allowed: 'a boolean', type: { kind: 'bool' } },
  reload_handover: { def: false, allowed: 'a boolean', type: { kind: 'bool' } },
  handshake_timeout: {
    def: 10,
    allowed: 'a number of seconds from 0 (off) to 86400',
    type: { kind: 'num', min: 0, max: 86400 },
  },
  package_timeout: {
    def: 60,
    allowed: 'a number of seconds from 0 (off) to 86400',
    type: { kind: 'num', min: 0, max: 86400 },
  },
};
const KNOWN_KEYS = Object.keys(KNOWN);
const DEFAULTS = Object.fromEntries(KNOWN_KEYS.map((k) => [k, KNOWN[k].def]));

function goodValues(t: Kind): unknown[] {
  switch (t.kind) {
    case 'int':
      return [t.min, t.max, Math.floor((t.min + t.max) / 2), t.min + 1];
    case 'num':
      return [t.min, t.max, (t.min + t.max) / 2 + 0.25, 0.5 + t.min];
    case 'bool':
      return [true, false];
    case 'str': {
      const v: unknown[] = ['x'.repeat(t.min), 'y'.repeat(t.max), Buffer.alloc(t.max, 0x7a)];
      if (t.max >= 8) v.push('é'.repeat(Math.floor(t.max / 2))); // max bytes, half as many characters
      if (t.min === 1) v.push('\n', '\0');
      return v;
    }
    case 'enum':
      return [...t.choices];
  }
}

function badValues(t: Kind): unknown[] {
  const common: unknown[] = [null, {}, [1], { a: 1 }];
  switch (t.kind) {
    case 'int':
      return [
        ...common,
        t.min - 1,
        t.max + 1,
        t.min + 0.5,
        NaN,
        Infinity,
        -Infinity,
        String(t.min),
        true,
        false,
        Buffer.from([1]),
        -1e300,
        1e300,
      ];
    case 'num':
      return [...common, t.min - 0.001, t.max + 0.001, NaN, Infinity, -Infinity, String(t.min), true];
    case 'bool':
      return [...common, 0, 1, 'true', 'false', '', Buffer.from([1])];
    case 'str': {
      const v: unknown[] = [...common, 1, 0, true, 'x'.repeat(t.max + 1), Buffer.alloc(t.max + 1, 0x41)];
      if (t.min > 0) v.push('', Buffer.alloc(0));
      v.push('é'.repeat(Math.floor(t.max / 2) + 1)); // within max characters, over max bytes
      return v;
    }
    case 'enum': {
      // a choice in another case, where that is not itself a choice (pack codes are case-sensitive pairs)
      const cased = t.choices.map((x) => x.toUpperCase()).filter((x) => !t.choices.includes(x));
      return [
        ...common,
        '',
        ...cased,
        t.choices[0] + ' ',
        ' ' + t.choices[0],
        t.choices.join('|'),
        'tcp',
        'x',
        1,
        true,
        Buffer.from(t.choices[0]),
      ];
    }
  }
}

function expectInvalid(fn: () => unknown, key: string, allowed: string): InvalidSettingError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `${key}: expected a throw`).toBeInstanceOf(InvalidSettingError);
  const e = err as InvalidSettingError;
  expect(e.code).toBe('ERR_INVALID_SETTING');
  expect(e.key).toBe(key);
  expect(e.allowed).toBe(allowed);
  expect(e.message).toContain(key);
  expect(e.message).toContain(allowed);
  return e;
}

beforeEach(() => {
  settings.reset();
});

describe('schema', () => {
  it('the table above restates defineSchema() in assembly/settings.ts (update both together)', () => {
    const src = readFileSync(new URL('../assembly/settings.ts', import.meta.url), 'utf8');
    const defs = [...src.matchAll(/^\s*def\('([^']+)', (K_\w+), [^']*'((?:[^'\\]|\\.)*)', '([^']*)', '([^']*)'\);/gm)];
    expect(defs.map((d) => d[1])).toEqual(KNOWN_KEYS);
    for (const [, key, kind, , choices, allowed] of defs) {
      expect(KNOWN[key].allowed, key).toBe(allowed);
      if (kind === 'K_ENUM') expect((KNOWN[key].type as { choices: string[] }).choices, key).toEqual(choices.split('|'));
    }
  });

  it('the core gives every known key name and allowed text back as static strings', () => {
    const n = c.exports.schema_count();
    expect(n).toBe(KNOWN_KEYS.length);
    for (let i = 0; i < n; i++) {
      expect(c.string(c.exports.schema_name(i))).toBe(KNOWN_KEYS[i]);
      expect(c.string(c.exports.schema_allowed(i))).toBe(KNOWN[KNOWN_KEYS[i]].allowed);
    }
    expect(c.exports.schema_name(n)).toBe(0);
    expect(c.exports.schema_allowed(-1)).toBe(0);
  });
});

describe('defaults', () => {
  it('get() returns the default of every known key', () => {
    for (const k of KNOWN_KEYS) expect(settings.get(k), k).toEqual(KNOWN[k].def);
  });

  it('all() holds exactly the known keys with their defaults', () => {
    expect(settings.all()).toEqual(DEFAULTS);
    expect(Object.keys(settings.all()).sort()).toEqual([...KNOWN_KEYS].sort());
  });

  it('get() of a key never set is undefined', () => {
    expect(settings.get('no_such_key')).toBeUndefined();
    expect(settings.get('Port')).toBeUndefined(); // keys are case-sensitive
    expect(settings.get('')).toBeUndefined();
  });

  it('reset() restores every default and forgets unknown keys', () => {
    settings.set('port', 8080);
    settings.set('protocol', 'http');
    settings.set('package_eof', '|');
    settings.set('proxy_protocol', true);
    settings.set('my_key', { a: 1 });
    settings.reset();
    expect(settings.all()).toEqual(DEFAULTS);
    expect(settings.get('my_key')).toBeUndefined();
  });

  it('repeated reset() does not grow linear memory', () => {
    settings.set('x', 'y'.repeat(1000));
    for (let i = 0; i < 50; i++) settings.reset();
    const size = c.memory.buffer.byteLength;
    for (let i = 0; i < 500; i++) {
      settings.set('x', 'y'.repeat(1000));
      settings.set('ip', '10.0.0.1');
      settings.reset();
    }
    expect(c.memory.buffer.byteLength).toBe(size);
  });
});

describe('known keys', () => {
  for (const key of KNOWN_KEYS) {
    const { allowed, type } = KNOWN[key];
    it(`${key} (${type.kind}) accepts good values`, () => {
      for (const v of goodValues(type)) {
        settings.set(key, v);
        const got = settings.get(key);
        if (Buffer.isBuffer(v)) expect(Buffer.isBuffer(got) && got.equals(v), `${key} = <${v.length} bytes>`).toBe(true);
        else expect(got, `${key} = ${JSON.stringify(v)}`).toEqual(v);
        expect(settings.all()[key]).toEqual(got);
      }
    });

    it(`${key} (${type.kind}) refuses bad values with ERR_INVALID_SETTING naming the key and what is allowed`, () => {
      const keep = goodValues(type)[1];
      settings.set(key, keep);
      for (const v of badValues(type)) {
        const e = expectInvalid(() => settings.set(key, v), key, allowed);
        expect(e.name).toBe('InvalidSettingError');
        // the stored value is unchanged
        if (Buffer.isBuffer(keep)) expect(settings.get(key)).toEqual(keep);
        else expect(settings.get(key), `after refusing ${String(v)}`).toEqual(keep);
      }
    });
  }

  it('package_eof: 1 and 8 bytes are accepted, 0 and 9 bytes refused (as strings and Buffers)', () => {
    for (const ok of ['\n', '12345678', Buffer.from([0]), Buffer.alloc(8, 0xff), 'éééé']) {
      settings.set('package_eof', ok);
    }
    for (const bad of ['', '123456789', Buffer.alloc(0), Buffer.alloc(9, 1), 'ééééé', 'abcdefgé']) {
      expectInvalid(() => settings.set('package_eof', bad), 'package_eof', 'a string of 1 to 8 bytes');
    }
  });

  it('values that cannot be stored are refused for any key', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    for (const key of ['port', 'custom_key']) {
      for (const v of [undefined, () => 1, Symbol('s'), 10n, circular]) {
        let err: unknown;
        try {
          settings.set(key, v);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(InvalidSettingError);
        expect((err as InvalidSettingError).code).toBe('ERR_INVALID_SETTING');
        expect((err as InvalidSettingError).key).toBe(key);
      }
    }
    expect(settings.get('custom_key')).toBeUndefined();
  });

  it('an empty key is refused', () => {
    expectInvalid(() => settings.set('', 1), '', 'a non-empty string as the key');
  });
});

describe('unknown keys', () => {
  it('are stored as given: string, number, boolean, null, Buffer, object', () => {
    const values: [string, unknown][] = [
      ['s', 'hello'],
      ['s_empty', ''],
      ['s_unicode', 'héllo wörld ✓ 😀'],
      ['n', 42],
      ['n_neg', -1.5],
      ['n_big', 1e300],
      ['n_nan', NaN],
      ['n_inf', -Infinity],
      ['n_negzero', -0],
      ['b_true', true],
      ['b_false', false],
      ['nul', null],
      ['obj', { a: 1, b: [1, 'two', null, { c: true }], d: 'x' }],
      ['arr', [1, 2, 3]],
      ['obj_empty', {}],
      ['ключ', 'unicode key'],
      ['key with spaces', 7],
    ];
    for (const [k, v] of values) settings.set(k, v);
    for (const [k, v] of values) expect(settings.get(k), k).toEqual(v);
    const all = settings.all();
    for (const [k, v] of values) expect(all[k], k).toEqual(v);
  });

  it('Buffers and Uint8Arrays come back as Buffers with the same bytes', () => {
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]);
    settings.set('buf', bytes);
    settings.set('u8', new Uint8Array([9, 8, 7]));
    settings.set('empty', Buffer.alloc(0));
    const got = settings.get('buf');
    expect(Buffer.isBuffer(got)).toBe(true);
    expect((got as Buffer).equals(bytes)).toBe(true);
    expect(got).not.toBe(bytes); // a copy
    expect(settings.get('u8')).toEqual(Buffer.from([9, 8, 7]));
    expect(settings.get('empty')).toEqual(Buffer.alloc(0));
    // mutating the original does not change the stored value
    bytes[0] = 0x55;
    expect((settings.get('buf') as Buffer)[0]).toBe(0);
  });

  // BUG (src/settings.ts, all()): the result is a plain object filled by
  // assignment, so a key named "__proto__" replaces its prototype instead of
  // becoming an own key, and the value's fields show up as inherited
  // properties. Remove `.fails` once all() uses Object.defineProperty or a
  // null-prototype object.
  it('a key named __proto__ is an own key of all()', () => {
    settings.set('__proto__', { polluted: 1 });
    expect(settings.get('__proto__')).toEqual({ polluted: 1 }); // get() is fine
    const all = settings.all();
    expect(Object.keys(all)).toContain('__proto__');
    expect((all as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('can be overwritten with a value of another type', () => {
    const seq: unknown[] = ['a', 1, true, null, Buffer.from('b'), { c: 1 }, 'back to a string'];
    for (const v of seq) {
      settings.set('changing', v);
      expect(settings.get('changing')).toEqual(v);
    }
  });

  it('property: any JSON-able value under any new key reads back equal', () => {
    const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((k) => !(k in KNOWN));
    const value = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
      fc
        .jsonValue({ maxDepth: 3 })
        .filter((v) => typeof v === 'object' && v !== null)
        .map((v) => JSON.parse(JSON.stringify(v)) as unknown),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 10 }), (pairs) => {
        settings.reset();
        const want = new Map<string, unknown>();
        for (const [k, v] of pairs) {
          settings.set(k, v);
          want.set(k, v);
        }
        const all = settings.all();
        for (const [k, v] of want) {
          expect(settings.get(k)).toEqual(v);
          expect(all[k]).toEqual(v);
        }
        expect(Object.keys(all).length).toBe(KNOWN_KEYS.length + want.size);
      }),
      { numRuns: 150 },
    );
  });
});

describe('serialize and load', () => {
  function populate(): void {
    settings.set('port', 9501);
    settings.set('ip', '127.0.0.1');
    settings.set('protocol', 'length');
    settings.set('package_eof', Buffer.from([0xff, 0x00, 0x0a]));
    settings.set('package_length_type', 'v');
    settings.set('package_length_offset', 3);
    settings.set('package_body_offset', 0);
    settings.set('package_max_length', 12345);
    settings.set('max_wait_time', 1.5);
    settings.set('proxy_protocol', true);
    settings.set('dispatch_mode', 'shared');
    settings.set('pid_file', '/run/t.pid');
    settings.set('u_str', 'ünïcode');
    settings.set('u_num', -3.25);
    settings.set('u_bool', false);
    settings.set('u_null', null);
    settings.set('u_buf', Buffer.from([1, 2, 3, 0]));
    settings.set('u_obj', { nested: { list: [1, 'a', null] } });
  }

  it('serialize -> reset -> load restores everything, and re-serializes to the same bytes', () => {
    populate();
    const before = settings.all();
    const blob = settings.serialize();
    expect(Buffer.isBuffer(blob)).toBe(true);
    settings.reset();
    expect(settings.all()).toEqual(DEFAULTS);
    settings.load(blob);
    expect(settings.all()).toEqual(before);
    expect(settings.serialize().equals(blob)).toBe(true);
  });

  it('the blob is a copy: later changes do not alter it', () => {
    populate();
    const blob = settings.serialize();
    const copy = Buffer.from(blob);
    settings.set('port', 1);
    settings.serialize();
    expect(blob.equals(copy)).toBe(true);
  });

  it('loads into a second Settings over the same core, which has a store of its own', () => {
    populate();
    const before = settings.all();
    const blob = settings.serialize();
    const other = new Settings(c);
    try {
      expect(other.all()).toEqual(DEFAULTS);
      other.load(blob);
      expect(other.all()).toEqual(before);
      expect(other.serialize().equals(blob)).toBe(true);
    } finally {
      other.dispose();
    }
  });

  it('property: any sequence of sets survives the round trip', () => {
    const knownSet = fc
      .constantFrom(...KNOWN_KEYS)
      .chain((k) => fc.tuple(fc.constant(k), fc.constantFrom(...goodValues(KNOWN[k].type))));
    const unknownSet = fc.tuple(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((k) => !(k in KNOWN)),
      fc.oneof(
        fc.string({ unit: 'grapheme', maxLength: 20 }),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)),
        fc.dictionary(fc.string(), fc.integer()),
      ),
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(knownSet, unknownSet), { maxLength: 15 }), (sets) => {
        settings.reset();
        for (const [k, v] of sets) settings.set(k, v);
        const before = settings.all();
        const blob = settings.serialize();
        settings.reset();
        settings.load(blob);
        expect(settings.all()).toEqual(before);
      }),
      { numRuns: 150 },
    );
  });

  it('a corrupt blob throws ERR_INVALID_SETTING', () => {
    populate();
    const blob = settings.serialize();
    const corrupt: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['text', Buffer.from('definitely not settings')],
      ['bad magic', Buffer.concat([Buffer.from('TPS2'), blob.subarray(4)])],
      ['a trailing byte', Buffer.concat([blob, Buffer.from([0])])],
      [
        'count one too high',
        (() => {
          const b = Buffer.from(blob);
          b.writeUInt32LE(b.readUInt32LE(4) + 1, 4);
          return b;
        })(),
      ],
      [
        'huge count',
        (() => {
          const b = Buffer.from(blob);
          b.writeUInt32LE(0xffffffff, 4);
          return b;
        })(),
      ],
      [
        'huge key length',
        (() => {
          const b = Buffer.from(blob);
          b.writeUInt32LE(0xfffffff0, 8);
          return b;
        })(),
      ],
    ];
    // an unknown tag on the first entry
    const badTag = Buffer.from(blob);
    badTag[8 + 4 + badTag.readUInt32LE(8)] = 99;
    corrupt.push(['unknown tag 99', badTag]);
    const noneTag = Buffer.from(blob);
    noneTag[8 + 4 + noneTag.readUInt32LE(8)] = 0;
    corrupt.push(['tag 0', noneTag]);
    // every strict prefix
    for (let n = 0; n < blob.length; n++) corrupt.push([`prefix of ${n} bytes`, blob.subarray(0, n)]);
    for (const [name, bytes] of corrupt) {
      settings.reset();
      let err: unknown;
      try {
        settings.load(bytes);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(InvalidSettingError);
      expect((err as InvalidSettingError).code, name).toBe('ERR_INVALID_SETTING');
    }
  });

  it('a well-formed blob with an invalid value for a known key names the key', () => {
    settings.set('port', 8080);
    settings.set('protocol', 'eof');
    const blob = settings.serialize();
    // find port's f64 and make it out of range
    const at = blob.indexOf(Buffer.from('port'));
    const num = at + 4 + 1;
    expect(blob.readDoubleLE(num)).toBe(8080);
    const badPort = Buffer.from(blob);
    badPort.writeDoubleLE(70000, num);
    settings.reset();
    expectInvalid(() => settings.load(badPort), 'port', KNOWN.port.allowed);
    // protocol value replaced by a same-length non-choice
    const p = blob.indexOf(Buffer.from('eof'), blob.indexOf(Buffer.from('protocol')));
    const badProto = Buffer.from(blob);
    badProto.write('tcp', p, 'latin1');
    settings.reset();
    expectInvalid(() => settings.load(badProto), 'protocol', KNOWN.protocol.allowed);
  });
});

describe('framing uses the settings snapshot taken at open()', () => {
  function frames(conn: number, text: string): string[] {
    const chunk = Buffer.from(text, 'latin1');
    const n = c.feed(conn, chunk);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(c.message(chunk, i).toString('latin1'));
    return out;
  }

  it('connections keep their protocol and delimiter when settings change later', () => {
    settings.set('protocol', 'eof');
    settings.set('package_eof', '|');
    const a = c.open(settings.store);
    settings.set('package_eof', '#');
    const b = c.open(settings.store);
    settings.set('protocol', 'raw');
    const r = c.open(settings.store);
    settings.reset(); // default raw
    expect(frames(a, 'x|y#z|')).toEqual(['x|', 'y#z|']);
    expect(frames(b, 'x|y#z|')).toEqual(['x|y#']);
    expect(frames(r, 'x|y#z|')).toEqual(['x|y#z|']);
    for (const conn of [a, b, r]) c.close(conn);
  });

  it('length settings and package_max_length are captured at open()', () => {
    settings.set('protocol', 'length');
    settings.set('package_length_type', 'C');
    settings.set('package_body_offset', 1);
    settings.set('package_max_length', 10);
    const a = c.open(settings.store);
    settings.set('package_length_type', 'n');
    settings.set('package_body_offset', 0);
    settings.set('package_max_length', 1000);
    const b = c.open(settings.store);
    expect(frames(a, '\x03abc\x01z')).toEqual(['\x03abc', '\x01z']);
    expect(frames(b, '\x00\x04ab\x00\x02')).toEqual(['\x00\x04ab', '\x00\x02']);
    // a's max is still 10, b's is 1000
    expect(frames(a, '\x0a' + 'q'.repeat(10))).toEqual([]);
    expect(c.error).toBe(1);
    expect(frames(b, '\x00\x0b' + 'q'.repeat(9))).toEqual(['\x00\x0b' + 'q'.repeat(9)]);
    expect(c.error).toBe(0);
    c.close(a);
    c.close(b);
  });

  it('http and raw connections opened side by side frame independently', () => {
    settings.set('protocol', 'http');
    const h = c.open(settings.store);
    settings.reset();
    const r = c.open(settings.store);
    const req = 'GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.0\r\n\r\n';
    expect(frames(h, req)).toEqual(['GET / HTTP/1.1\r\n\r\n', 'GET /2 HTTP/1.0\r\n\r\n']);
    expect(frames(r, req)).toEqual([req]);
    c.close(h);
    c.close(r);
  });

  it('a refused set leaves the framing config as it was', () => {
    settings.set('protocol', 'eof');
    settings.set('package_eof', '|');
    expect(() => settings.set('package_eof', '')).toThrow(InvalidSettingError);
    expect(() => settings.set('protocol', 'tcp')).toThrow(InvalidSettingError);
    const a = c.open(settings.store);
    expect(frames(a, 'a|b|')).toEqual(['a|', 'b|']);
    c.close(a);
  });

  it('load() applies the framing config to connections opened after it', () => {
    settings.set('protocol', 'eof');
    settings.set('package_eof', '<END>');
    const blob = settings.serialize();
    settings.reset();
    const before = c.open(settings.store);
    settings.load(blob);
    const after = c.open(settings.store);
    expect(frames(before, 'a<END>b<END>')).toEqual(['a<END>b<END>']);
    expect(frames(after, 'a<END>b<END>')).toEqual(['a<END>', 'b<END>']);
    c.close(before);
    c.close(after);
  });

  it('load() is all or nothing: a bad entry after good ones changes nothing', () => {
    // Hand-built blob: protocol=http (valid), then process_number=0 (refused).
    const entry = (key: string, tag: number, value: Buffer) => {
      const k = Buffer.from(key);
      const head = Buffer.alloc(4);
      head.writeUInt32LE(k.length);
      return Buffer.concat([head, k, Buffer.from([tag]), value]);
    };
    const str = (v: string) => {
      const b = Buffer.from(v);
      const l = Buffer.alloc(4);
      l.writeUInt32LE(b.length);
      return Buffer.concat([l, b]);
    };
    const num = (v: number) => {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(v);
      return b;
    };
    const top = Buffer.alloc(8);
    top.write('TPS1', 0, 'latin1');
    top.writeUInt32LE(2, 4);
    const blob = Buffer.concat([top, entry('protocol', 3, str('http')), entry('process_number', 1, num(0))]);
    expect(() => settings.load(blob)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SETTING', key: 'process_number' }));
    expect(settings.get('protocol')).toBe('raw');
  });
});

describe('a store per Settings (and so per Server)', () => {
  function frames(conn: number, text: string): string[] {
    const chunk = Buffer.from(text, 'latin1');
    const n = c.feed(conn, chunk);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(c.message(chunk, i).toString('latin1'));
    return out;
  }

  it('two Settings in one process keep their own values and defaults', () => {
    const a = new Settings(c);
    const b = new Settings(c);
    try {
      expect(a.store).not.toBe(b.store);
      a.set('protocol', 'eof');
      a.set('package_eof', '|');
      a.set('port', 1234);
      a.set('mine', { a: 1 });
      expect(b.all()).toEqual(DEFAULTS);
      b.set('protocol', 'length');
      b.set('package_max_length', 99);
      b.set('theirs', 'x');
      expect(a.get('protocol')).toBe('eof');
      expect(a.get('package_eof')).toBe('|');
      expect(a.get('port')).toBe(1234);
      expect(a.get('package_max_length')).toBe(KNOWN.package_max_length.def);
      expect(a.get('mine')).toEqual({ a: 1 });
      expect(a.get('theirs')).toBeUndefined();
      expect(b.get('package_eof')).toBe('\r\n');
      expect(b.get('port')).toBe(0);
      expect(b.get('mine')).toBeUndefined();
      expect(Object.keys(a.all())).toEqual([...KNOWN_KEYS, 'mine']);
      expect(Object.keys(b.all())).toEqual([...KNOWN_KEYS, 'theirs']);
      // nor does the module's own store see either
      expect(settings.get('protocol')).toBe('raw');
      expect(settings.get('mine')).toBeUndefined();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it("connections opened on each store frame with that store's protocol", () => {
    const a = new Settings(c);
    const b = new Settings(c);
    try {
      a.set('protocol', 'eof');
      a.set('package_eof', '|');
      b.set('protocol', 'http');
      const ca = c.open(a.store);
      const cb = c.open(b.store);
      const cr = c.open(settings.store); // default raw
      const req = 'GET /a|b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n';
      expect(frames(ca, req)).toEqual(['GET /a|']);
      expect(frames(cb, req)).toEqual(['GET /a|b HTTP/1.1\r\n\r\n', 'GET /c HTTP/1.1\r\n\r\n']);
      expect(frames(cr, req)).toEqual([req]);
      for (const conn of [ca, cb, cr]) c.close(conn);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('reset() of one store leaves the other alone', () => {
    const a = new Settings(c);
    const b = new Settings(c);
    try {
      a.set('protocol', 'eof');
      a.set('mine', 1);
      b.set('protocol', 'http');
      b.set('theirs', 2);
      a.reset();
      expect(a.all()).toEqual(DEFAULTS);
      expect(b.get('protocol')).toBe('http');
      expect(b.get('theirs')).toBe(2);
      const conn = c.open(b.store);
      expect(frames(conn, 'GET / HTTP/1.1\r\n\r\n')).toEqual(['GET / HTTP/1.1\r\n\r\n']);
      c.close(conn);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('a connection keeps its settings after its store is disposed', () => {
    const a = new Settings(c);
    a.set('protocol', 'eof');
    a.set('package_eof', '#');
    const conn = c.open(a.store);
    a.dispose();
    expect(a.store).toBe(0);
    expect(frames(conn, 'x#y#')).toEqual(['x#', 'y#']);
    c.close(conn);
  });

  it('a disposed Settings refuses to be used; dispose() twice is harmless', () => {
    const a = new Settings(c);
    a.dispose();
    a.dispose();
    expect(() => a.get('port')).toThrow(/disposed/);
    expect(() => a.set('port', 1)).toThrow(/disposed/);
    expect(() => a.all()).toThrow(/disposed/);
    expect(() => a.serialize()).toThrow(/disposed/);
    expect(() => a.reset()).toThrow(/disposed/);
  });

  it('1000 stores made, filled and disposed leave linear memory at a steady size', () => {
    // a core of its own, so the memory measured is these stores' alone
    const own = new Core();
    const sizes: number[] = [];
    const big = 'v'.repeat(3000);
    for (let i = 0; i < 1000; i++) {
      const s = new Settings(own);
      s.set('protocol', 'http');
      s.set('package_eof', '<END>');
      s.set('master_name', `master ${i}`);
      for (let k = 0; k < 70; k++) s.set(`custom_${k}`, k % 2 ? big : { k }); // past the first capacity
      s.serialize();
      s.load(s.serialize());
      own.close(own.open(s.store));
      s.reset();
      s.dispose();
      if (i % 100 === 99) sizes.push(own.memory.buffer.byteLength);
    }
    expect(sizes.every((n) => n === sizes[0])).toBe(true);
  });
});
