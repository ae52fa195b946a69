// The benchmark target: parse + flatten + filter of a ~25,000-item catalog in under 200 ms. The
// assertion uses CPU time, which other processes on a busy machine do not inflate, with headroom
// for slow CI machines; both times are printed for the record.

import { describe, expect, it } from 'vitest';
import { parseProducts } from '../../../src-main/streams/documents.js';
import { parseSelection } from '../../../src-main/streams/filters.js';
import { selectItems } from '../../../src-main/streams/select.js';

const RELEASES = ['focal', 'jammy', 'noble', 'oracular', 'plucky'];
const ARCHES = ['amd64', 'arm64', 'ppc64el', 's390x', 'armhf'];
const ITEMS = ['boot-initrd', 'boot-kernel', 'manifest', 'squashfs', 'boot-dtb'];

// A MAAS-shaped products file: 5 releases x 5 arches x 10 kernels x 20 versions x 5 items.
function largeCatalog(): string {
  const products: Record<string, unknown> = {};
  for (const release of RELEASES) {
    for (const arch of ARCHES) {
      for (let kernel = 0; kernel < 10; kernel += 1) {
        const versions: Record<string, unknown> = {};
        for (let day = 0; day < 20; day += 1) {
          const version = `202507${String(day + 10)}`;
          const items: Record<string, unknown> = {};
          for (const name of ITEMS) {
            items[name] = {
              ftype: name,
              kpackage: 'linux-generic',
              path: `${release}/${arch}/${version}/hwe-${kernel}/generic/${name}`,
              sha256: `${release}${arch}${version}${kernel}${name}`.padEnd(64, '0').slice(0, 64),
              size: 100000000 + day * 1000 + kernel,
            };
          }
          versions[version] = { items };
        }
        products[`com.ubuntu.maas.stable:v3:boot:24.04:${arch}:hwe-${release}-${kernel}`] = {
          arch,
          kflavor: 'generic',
          label: 'stable',
          os: 'ubuntu',
          release,
          release_title: '24.04 LTS',
          subarch: `hwe-${kernel}`,
          subarches: 'generic,hwe-p,hwe-q,hwe-r,hwe-s,hwe-t,ga-20.04,ga-22.04,ga-24.04',
          support_eol: '2029-05-31',
          version: '24.04',
          versions,
        };
      }
    }
  }
  return JSON.stringify({ content_id: 'com.ubuntu.maas:stable:v3:download', datatype: 'image-ids', format: 'products:1.0', products, updated: 'now' }, null, 1);
}

describe('performance', () => {
  it('parses, flattens and filters a 25,000-item catalog quickly', () => {
    const text = largeCatalog();
    const selection = parseSelection(['arch=amd64', 'release~(jammy|noble)', '--or', 'os~(grub*|pxelinux)']);
    const wallTimes: number[] = [];
    const cpuTimes: number[] = [];
    let selectedCount = 0;
    for (let run = 0; run < 5; run += 1) {
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      const doc = parseProducts(text, 'large.json');
      selectedCount = selectItems(doc, selection).length;
      const cpu = process.cpuUsage(cpuBefore);
      cpuTimes.push((cpu.user + cpu.system) / 1000);
      wallTimes.push(performance.now() - started);
    }
    const bestCpu = Math.min(...cpuTimes);
    process.stdout.write(
      `parse+flatten+filter of 25,000 items (${(text.length / 1e6).toFixed(1)} MB): best ${Math.min(...wallTimes).toFixed(0)} ms wall, ${bestCpu.toFixed(0)} ms CPU\n`,
    );
    expect(selectedCount).toBe(2 * 10 * 20 * 5);
    expect(bestCpu).toBeLessThan(400);
  });
});
