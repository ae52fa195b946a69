import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, it } from 'vitest';
import type { JobEvent } from '../../src-main/contract/index.js';
import type { DriveListing, FerryClient } from '../../src-renderer/lib/client.js';
import { AppState } from '../../src-renderer/lib/state/app.svelte.js';
import App from '../../src-renderer/App.svelte';

// The Export screen while an export carried one drive after another waits for its next drive
// (issue 10 §3, issue 9 §2): the question shown plainly, the drive picker to answer it, a refused
// drive's reason, and stop. The engine's side of the wait (event target-needed, jobs.provideTarget)
// is proven with real drives in test/integration/export/export-drives.test.ts; here the client is
// a recorder that replays the events a waiting export sends, since reaching that state for real
// needs a synced library larger than a loop-mounted drive, which jsdom's process cannot drive.

const JOB_ID = 'job-1';

class RecordingClient implements Partial<FerryClient> {
  readonly calls: string[] = [];
  #listener: ((event: JobEvent) => void) | undefined;

  startJob = (kind: string): Promise<{ jobId: string }> => {
    this.calls.push(`start ${kind}`);
    return Promise.resolve({ jobId: JOB_ID });
  };
  onJobEvent = (_jobId: string, listener: (event: JobEvent) => void): (() => void) => {
    this.#listener = listener;
    return () => undefined;
  };
  provideTarget = (jobId: string, path: string): Promise<void> => {
    this.calls.push(`provideTarget ${jobId} ${path}`);
    return Promise.resolve();
  };
  cancelJob = (jobId: string): Promise<void> => {
    this.calls.push(`cancel ${jobId}`);
    return Promise.resolve();
  };
  drives = (): Promise<DriveListing> =>
    Promise.resolve({
      drives: [
        {
          device: '/dev/sdc',
          model: 'USB Stick',
          sizeBytes: 32e9,
          hasMedia: true,
          bus: 'usb',
          removable: true,
          usb: true,
          readOnly: false,
          virtual: false,
          systemReasons: [],
          volumes: [{ device: '/dev/sdc1', kind: 'partition', sizeBytes: 32e9, fsType: 'exfat', label: 'SECOND', mountPoints: ['/media/usb2'], freeBytes: 31e9 }],
        },
      ],
      hidden: [],
    });
  jobs = (): Promise<never[]> => Promise.resolve([]);
  librarySummary = (): Promise<never> => Promise.reject(new Error('not used here'));
  profiles = (): Promise<never[]> => Promise.resolve([]);

  send(event: JobEvent): void {
    this.#listener?.(event);
  }
}

const needed = (problem: string | null): JobEvent => ({
  type: 'target-needed',
  jobId: JOB_ID,
  volume: 2,
  volumes: 3,
  bytes: 14.2 * 1024 ** 3,
  done: [{ volume: 1, directory: '/media/usb1/FERRY/20261130T054000Z-3fa9c2d1' }],
  problem,
});

describe('Export screen: the next drive', () => {
  it('says which volume was written and verified and what the next needs, takes the drive chosen, shows a refusal, and stops', async () => {
    const client = new RecordingClient();
    const app = new AppState(client as unknown as FerryClient);
    render(App, { app });
    app.go('export');
    void app.export.job.start({ to: '/media/usb1', tree: '/srv/mirror', askForTargets: true });
    await waitFor(() => {
      expect(client.calls).toContain('start export');
    });
    expect(screen.queryByRole('region', { name: 'Next drive' })).toBeNull();

    client.send(needed(null));
    const prompt = await screen.findByRole('status', { name: 'Next drive needed' });
    expect(prompt.textContent).toBe('Volume 1 of 3 written and verified; insert the next drive: volume 2 of 3 needs 14.2 GiB free.');

    // The drive picker answers it: the mounted volume of the drive found.
    await fireEvent.click(screen.getAllByRole('button', { name: 'Find drives' }).at(-1) as HTMLElement);
    const choice = await screen.findByRole('radio', { name: /SECOND — \/media\/usb2 \(exfat, 28\.\d GiB free\)/ });
    await fireEvent.click(choice);
    expect(screen.getByRole<HTMLInputElement>('textbox', { name: 'Or the folder the next drive is mounted at' }).value).toBe('/media/usb2');
    await fireEvent.click(screen.getByRole('button', { name: 'Write volume 2 there' }));
    expect(client.calls).toContain(`provideTarget ${JOB_ID} /media/usb2`);
    // Answered: the question goes until the export asks again.
    await waitFor(() => {
      expect(screen.queryByRole('status', { name: 'Next drive needed' })).toBeNull();
    });

    // A refused drive comes back as the question again, with the reason; a typed folder answers it.
    client.send(needed('Volume 2 needs 15246799462 bytes plus a margin of 304935990, and /media/usb2 has 1000 bytes free; nothing was written there.'));
    await screen.findByRole('status', { name: 'Next drive needed' });
    expect(screen.getByText(/^That drive was refused: Volume 2 needs \d+ bytes/)).toBeTruthy();
    await fireEvent.input(screen.getByRole('textbox', { name: 'Or the folder the next drive is mounted at' }), { target: { value: '/media/usb3' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Write volume 2 there' }));
    expect(client.calls).toContain(`provideTarget ${JOB_ID} /media/usb3`);

    client.send(needed(null));
    await fireEvent.click(await screen.findByRole('button', { name: 'Stop the export' }));
    expect(client.calls.at(-1)).toBe(`cancel ${JOB_ID}`);
  });
});
