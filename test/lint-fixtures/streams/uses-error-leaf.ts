// Must pass: every layer may raise FerryError from the engine's leaf file.
import { FerryError } from '../engine/errors.js';

export const failure = new FerryError('FERRY_USAGE', 'example');
