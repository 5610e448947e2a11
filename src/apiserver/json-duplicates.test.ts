import { describe, expect, it } from 'vitest';
import { duplicateFields } from './json-duplicates.ts';

describe('duplicateFields', () => {
  it('names repeated keys by field path, with list indexes, and ignores braces and quotes inside strings', () => {
    const text = '{"metadata":{"name":"a","name":"b"},"spec":{"containers":[{"name":"x","image":"i","image":"j"},{}],"paused":true,"x\\"y":1,"x\\"y":2,"paused":false},"data":{"a":"{\\"q\\":1,\\"q\\":2}"}}';
    expect(duplicateFields(text)).toEqual(['metadata.name', 'spec.containers[0].image', 'spec.x"y', 'spec.paused']);
  });

  it('finds none in ordinary documents, and handles top-level arrays', () => {
    expect(duplicateFields('{"a":{"a":{"a":[{"a":1},{"a":2}]}}}')).toEqual([]);
    expect(duplicateFields('[{"a":1,"a":2},[{"b":1,"b":1}]]')).toEqual(['[0].a', '[1][0].b']);
  });
});
