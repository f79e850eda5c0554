// The WASM core's exports. Hot path: `feed`. Everything else is cold.
// Exports take and return i32/f64 only; results are status codes and
// (offset, length) pairs in linear memory, never thrown errors.
import { CTRL, reserveInput } from './memory';

export {
  feed,
  feedMore as feed_more,
  feedWords as feed_words,
  setCopyLimit as set_copy_limit,
  connOpen as conn_open,
  connClose as conn_close,
  connBuffered as conn_buffered,
  connHeld as conn_held,
  connSave as conn_save,
  connRestore as conn_restore,
} from './framing';
export {
  storeNew as store_new,
  storeFree as store_free,
  settingsScratch as settings_scratch,
  settingSet as setting_set,
  settingFind as setting_find,
  settingCount as setting_count,
  settingRead as setting_read,
  settingKey as setting_key,
  settingsSerialize as settings_serialize,
  settingsLoad as settings_load,
  settingsReset as settings_reset,
  schemaCount as schema_count,
  schemaName as schema_name,
  schemaAllowed as schema_allowed,
} from './settings';

export { setMemoryLimit as set_memory_limit } from './record';

/** Address of the control block (CTRL_* words). */
export function ctrl(): usize {
  return CTRL;
}

/** Makes the input area hold `n` bytes and returns its address. */
export function reserve_input(n: i32): usize {
  return reserveInput(n);
}
