// A reader for the XML property lists `diskutil ... -plist` prints (Apple's plist DTD 1.0). Only
// what diskutil uses: dict, array, string, integer, real, true, false, data and date. Pure.
import { FerryError } from '../base/errors.js';

export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };
export type PlistDict = { [key: string]: PlistValue };

interface Token {
  /** Tag name, or '#text' for the characters between tags. */
  name: string;
  closing: boolean;
  selfClosing: boolean;
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return ENTITIES[entity] ?? whole;
  });
}

function tokenize(xml: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z]+)(?:\s[^>]*?)?(\/?)>|([^<]+)/g;
  for (const match of xml.matchAll(pattern)) {
    const [, slash, name, selfClose, characters] = match;
    if (name !== undefined) tokens.push({ name, closing: slash === '/', selfClosing: selfClose === '/', text: '' });
    else if (characters !== undefined) tokens.push({ name: '#text', closing: false, selfClosing: false, text: characters });
  }
  return tokens;
}

function invalid(problem: string): FerryError {
  return new FerryError('FERRY_DRIVE_OUTPUT_INVALID', `diskutil printed a property list that cannot be read: ${problem}.`);
}

/**
 * Parses an XML property list into plain values (integers as numbers: disk sizes stay far below
 * 2^53). Throws FERRY_DRIVE_OUTPUT_INVALID on anything else.
 */
export function parsePlist(xml: string): PlistValue {
  const tokens = tokenize(xml).filter((token) => token.name !== '#text' || token.text.trim() !== '');
  let position = 0;
  const next = (): Token => {
    const token = tokens[position];
    if (token === undefined) throw invalid('it ends early');
    position += 1;
    return token;
  };
  const textUntilClose = (name: string): string => {
    let text = '';
    for (let token = next(); !(token.closing && token.name === name); token = next()) {
      if (token.name !== '#text') throw invalid(`<${token.name}> inside <${name}>`);
      text += token.text;
    }
    return decodeEntities(text);
  };
  const value = (token: Token): PlistValue => {
    switch (token.name) {
      case 'dict': {
        const dict: PlistDict = Object.create(null) as PlistDict;
        if (token.selfClosing) return dict;
        for (let key = next(); !(key.closing && key.name === 'dict'); key = next()) {
          if (key.name !== 'key') throw invalid(`<${key.name}> where a <key> belongs`);
          const name = textUntilClose('key');
          dict[name] = value(next());
        }
        return dict;
      }
      case 'array': {
        const array: PlistValue[] = [];
        if (token.selfClosing) return array;
        for (let item = next(); !(item.closing && item.name === 'array'); item = next()) array.push(value(item));
        return array;
      }
      case 'string':
      case 'date':
      case 'data':
        return token.selfClosing ? '' : textUntilClose(token.name);
      case 'integer':
      case 'real': {
        const number = Number(textUntilClose(token.name).trim());
        if (!Number.isFinite(number)) throw invalid(`a <${token.name}> that is not a number`);
        return number;
      }
      case 'true':
      case 'false':
        if (!token.selfClosing) textUntilClose(token.name);
        return token.name === 'true';
      default:
        throw invalid(`unexpected <${token.closing ? '/' : ''}${token.name}>`);
    }
  };
  const root = next();
  if (root.name !== 'plist' || root.closing) throw invalid('no <plist> element');
  const result = value(next());
  if (!next().closing) throw invalid('more than one value in <plist>');
  return result;
}

/** The value as a dict, or an empty one: diskutil leaves keys out rather than writing empty ones. */
export function asDict(value: PlistValue | undefined): PlistDict {
  return typeof value === 'object' && !Array.isArray(value) ? value : (Object.create(null) as PlistDict);
}

export function asArray(value: PlistValue | undefined): PlistValue[] {
  return Array.isArray(value) ? value : [];
}

export function asString(value: PlistValue | undefined): string | null {
  return typeof value === 'string' ? value : null;
}

export function asNumber(value: PlistValue | undefined): number | null {
  return typeof value === 'number' ? value : null;
}
