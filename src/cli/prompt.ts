// docker's confirmation prompt: "… Are you sure you want to continue? [y/N] ", yes only on y/yes.

import type { CommandContext } from './command.js';

function readLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const done = () => {
      stream.off('data', onData);
      stream.off('end', done);
      stream.off('error', done);
      stream.pause();
      resolve(text.split('\n')[0] ?? '');
    };
    const onData = (chunk: Buffer | string) => {
      text += chunk.toString();
      if (text.includes('\n')) done();
    };
    stream.on('data', onData);
    stream.once('end', done);
    stream.once('error', done);
    stream.resume();
  });
}

export async function confirm(ctx: CommandContext, warning: string): Promise<boolean> {
  ctx.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = (await readLine(ctx.stdin)).trim().toLowerCase();
  return answer === 'y' || answer === 'yes';
}
