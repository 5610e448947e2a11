import type { Command } from 'commander';
import { register as convert } from './convert.ts';
import { register as imageUpload } from './image-upload.ts';
import { register as importCommand } from './import.ts';
import { register as serve } from './serve.ts';

/** Each subcommand lives in its own module and registers itself on the program. */
export const commands: Array<(program: Command) => void> = [convert, imageUpload, importCommand, serve];
