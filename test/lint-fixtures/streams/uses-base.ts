// Must pass: every folder may raise FerryError from the ground floor.
import { FerryError } from '../base/errors.js';

export const failure = new FerryError('FERRY_IO', 'example');
