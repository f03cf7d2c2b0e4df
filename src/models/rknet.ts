/**
 * The zoo's entry for RKNet (DynamicBlocks, seed 004): `createModel('rknet', { rknet: { integrator,
 * layer, norm, normStats, regularizer, clip, tY, tTheta, channels }, width, boundary, numClasses })`. The
 * default is the reference's runDefault network (251,866 parameters). `width` scales the reference
 * channels [16, 32, 64, 64]. RKNet has no twist.
 * @module
 */
import { check } from '../tensor/errors.js';
import { RKNet } from '../dynamics/rknet.js';
import { BOUNDARIES } from '../pde/boundary.js';
import type { ModelOptions, RKNetModelOptions } from './options.js';

const KEYS = ['numClasses', 'boundary', 'width', 'twist', 'rknet'];

export function rknet(options: RKNetModelOptions = {}): RKNet {
  const op = 'models.rknet';
  const unknown = Object.keys(options).filter((k) => !KEYS.includes(k));
  check(
    unknown.length === 0,
    op,
    () => `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; ` + `rknet takes ${KEYS.join(', ')}`,
  );
  const { twist } = options as ModelOptions; // given by callers that name the model at run time
  check(twist === undefined || twist === false, op, 'RKNet has no twist');
  const { numClasses = 10, boundary = 'zeros', width, rknet: dyn = {} } = options;
  check(
    BOUNDARIES.includes(boundary),
    op,
    `boundary must be one of ${BOUNDARIES.join(', ')}, got ${JSON.stringify(boundary)}`,
  );
  const channels = dyn.channels ?? [16, 32, 64, 64].map((c) => (width ? (c * width) / 16 : c));
  check(
    channels.every((c) => Number.isInteger(c) && c > 0),
    op,
    `channels must be positive integers, got [${channels}]`,
  );
  return new RKNet({ ...dyn, channels, boundary, numClasses });
}
