import type { Digest } from '../oci/digest.js';
import { onStorage } from './storage-errors.js';
import { publishBlobFile, type FsOps } from './fs-ops.js';
import { SpooledUpload } from './spooled-upload.js';

/**
 * A push's blob for the file store: the spool (spooled-upload.ts) is a temp file under
 * the data dir, and commit cuts it to its verified size, syncs it and renames it into
 * place under its digest.
 */
export class FsBlobUpload extends SpooledUpload {
  private constructor(
    tmpPath: string,
    private readonly finalPath: (digest: Digest) => string,
    private readonly fs: FsOps,
  ) {
    super(tmpPath, fs);
  }

  static async create(tmpPath: string, finalPath: (digest: Digest) => string, fs: FsOps): Promise<FsBlobUpload> {
    await SpooledUpload.createSpool(fs, tmpPath);
    return new FsBlobUpload(tmpPath, finalPath, fs);
  }

  protected async publish(expected: Digest): Promise<void> {
    await onStorage('commit upload', async () => {
      const handle = await this.fs.open(this.spoolPath, 'r+');
      try {
        await handle.truncate(this.size);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await publishBlobFile(this.fs, this.spoolPath, this.finalPath(expected));
    });
  }
}
