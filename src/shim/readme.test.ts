import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMA } from './config';

describe('README configuration reference', () => {
  it('documents every configuration key and flag with its default', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    for (const k of SCHEMA) {
      expect(readme).toContain(`| \`${k.path}\` | ${k.flag ? `\`--${k.flag}\`` : '-'} | \`${JSON.stringify(k.def)}\``);
    }
  });
});
