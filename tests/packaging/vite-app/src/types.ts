// Every type the package exports, named once, so `tsc --noEmit` checks each
// declaration as a consumer sees it (the packaging test fails if a new
// export is missing here). A few values pin the unions' literals.
import type {
  BlockedReason, DecryptedChunk, DeferredWork, DiagnoseOptions, EncryptedBytes, EnqueueItem, FerryErrorCode,
  FerryOptions, FileTypeName, Finding, FindingCode, HostReader, InitInput, InitOutput, ItemErrorCode, ItemState,
  ItemsQuery, Policies, Progress, QueueItem, QueueStatus, RunReport, SealedBox, StopReason, SyncInitInput,
  SyncOptions, Trigger, WrappedKey,
} from 'ferry-sync';
import type { BackgroundGrants, BackgroundSyncOptions, ServiceWorkerScope } from 'ferry-sync/sw';
import type { ShellCompletion, ShellTrigger, ShellWake, WakePlugin } from 'ferry-sync/capacitor';
import type { BridgeCommand, BridgeErrorCode, FromWebView, ToWebView } from 'ferry-sync/react-native-webview';

export type EveryExport = [
  BlockedReason, DecryptedChunk, DeferredWork, DiagnoseOptions, EncryptedBytes, EnqueueItem, FerryErrorCode,
  FerryOptions, FileTypeName, Finding, FindingCode, HostReader, InitInput, InitOutput, ItemErrorCode, ItemState,
  ItemsQuery, Policies, Progress, QueueItem, QueueStatus, RunReport, SealedBox, StopReason, SyncInitInput,
  SyncOptions, Trigger, WrappedKey, BackgroundGrants, BackgroundSyncOptions, ServiceWorkerScope, ShellCompletion, ShellTrigger,
  ShellWake, WakePlugin, BridgeCommand, BridgeErrorCode, FromWebView, ToWebView,
];

export const storeSilent: Finding = { code: 'STORE_UNREACHABLE', severity: 'warning', advice: 'check the CORS rules' };
export const waiting: ItemErrorCode = 'ETAG_HIDDEN';
export const full: FerryErrorCode = 'STORAGE_FULL';
export const blocked: BlockedReason = 'offline';
export const killed: StopReason = 'killed';
