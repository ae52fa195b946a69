// Shapes a domain folder owns and the contract (src-main/contract/) describes again as schemas, so
// that the renderer can import them without the domain: checked against each other here, at compile
// time, both ways. A field added on one side and not the other fails `npm run lint`.

import type { Progress } from '../base/progress.js';
import type { SerializedFerryError } from '../base/errors.js';
import type { LibraryRepairReport, TreeRepairReport } from '../library/index.js';
import type { Drive, EjectOutcome } from '../media/index.js';
import type { NoMatchReport } from '../streams/index.js';
import type {
  DriveListingData,
  EjectOutcomeData,
  LibrarySummaryData,
  NoMatchReportData,
  ProductSummary as ContractProductSummary,
  ProgressData,
  RepairReport,
  SerializedError,
} from '../contract/index.js';
import type { DriveListing } from './drives.js';
import type { LibrarySummary } from './library.js';
import type { ProductSummary } from './query.js';

/** true when each type is assignable to the other. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** Every entry must be `true`; a drifted pair makes its entry `false` and this file fail to compile. */
export const CONTRACT_MATCHES_DOMAIN: [
  Same<Progress, ProgressData>,
  Same<SerializedFerryError, SerializedError>,
  Same<LibraryRepairReport | TreeRepairReport, RepairReport>,
  Same<Drive, DriveListingData['drives'][number]>,
  Same<DriveListing, DriveListingData>,
  Same<LibrarySummary, LibrarySummaryData>,
  Same<ProductSummary, ContractProductSummary>,
  Same<NoMatchReport, NoMatchReportData>,
  Same<EjectOutcome, EjectOutcomeData>,
] = [true, true, true, true, true, true, true, true, true];
