import { Command, Option } from 'commander';
import { InputError } from '../../lib/errors';
import { CODEC_SERVER_DEFAULTS, startCodecServer } from '../../lib/security/codec-server';
import { AesGcmPayloadCodec } from '../../lib/security/payload-codec';
import { loadPayloadKeyring, PAYLOAD_KEYS_VARIABLE } from '../../lib/security/payload-keys';
import { createOutput } from '../output';
import { collect } from './common';

interface CodecServerCommandOptions {
  port: string;
  host: string;
  origin: string[];
  json?: boolean;
}

export function codecServerCommand(): Command {
  return (
    new Command('codec-server')
      .description(
        'serve /decode and /encode so the Temporal UI shows encrypted payloads in clear (needs BARCODES_PAYLOAD_KEYS)',
      )
      .option('--port <port>', 'port to listen on', String(CODEC_SERVER_DEFAULTS.port))
      .option(
        '--host <address>',
        'address to listen on; anyone who reaches it can read payloads (no authentication)',
        CODEC_SERVER_DEFAULTS.host,
      )
      // The default shown once, as the origin it stands for (the option's value itself starts empty).
      .addOption(
        new Option('--origin <url>', "browser origin allowed to call it, the Temporal UI's (repeatable)")
          .argParser(collect)
          .default([], CODEC_SERVER_DEFAULTS.origin),
      )
      .option('--json', 'print where it listens as JSON')
      .addHelpText(
        'after',
        `\nExample:\n  BARCODES_PAYLOAD_KEYS_FILE=/run/secrets/payload-keys barcodes codec-server --port 8888\n\nThen, in the Temporal UI: Settings (or the namespace's Codec Server setting) → http://127.0.0.1:8888.\nRuns until Ctrl-C.`,
      )
      .action(async (options: CodecServerCommandOptions) => {
        const output = createOutput(Boolean(options.json));
        const keyring = loadPayloadKeyring();
        if (!keyring)
          throw new InputError(
            `${PAYLOAD_KEYS_VARIABLE} (or ${PAYLOAD_KEYS_VARIABLE}_FILE) is not set: there is nothing to decode with`,
          );
        const port = Number(options.port);
        if (!/^\d{1,5}$/.test(options.port) || port > 65_535)
          throw new InputError(`--port: invalid port ${JSON.stringify(options.port)}`);
        const origins = options.origin.length > 0 ? options.origin : [CODEC_SERVER_DEFAULTS.origin];
        for (const origin of origins) {
          if (!/^https?:\/\/[^/\s]+\/?$/.test(origin))
            throw new InputError(
              `--origin: invalid origin ${JSON.stringify(origin)} (expected e.g. ${CODEC_SERVER_DEFAULTS.origin})`,
            );
        }
        const server = await startCodecServer({
          codec: new AesGcmPayloadCodec(keyring),
          port,
          host: options.host,
          allowedOrigins: origins,
          log: output.note,
        });
        output.result(
          { url: server.url, origins, keyIds: [...keyring.byId.keys()] },
          () =>
            `codec server at ${server.url} for ${origins.join(', ')} (keys ${[...keyring.byId.keys()].join(', ')}); Ctrl-C stops it`,
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await server.close();
      })
  );
}
