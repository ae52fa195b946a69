// `npm run man`: writes docs/ferry.1 from the command definitions. Commit the result; the test
// test/unit/cli/reference.test.ts fails when the committed page is older than the definitions.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadCommands } from '../../src-main/cli/commands/index.js';
import { formatManPage } from '../../src-main/cli/man-page.js';
import { productVersion } from '../../src-main/engine/install.js';
import { repoRoot } from './run-ferry.js';

const MAN_PAGE_PATH = join(repoRoot, 'docs/ferry.1');

await writeFile(MAN_PAGE_PATH, formatManPage(await loadCommands(), productVersion()));
process.stdout.write(`wrote ${MAN_PAGE_PATH}\n`);
