/**
 * What a node of the flow panel says about its step: its kind ("foreach ×3") and its status,
 * short on the node ("✓ spin 12 ms") and in full for the tooltip and screen readers. Pure
 * functions of the protocol's `FlowStep`, apart from the page script that draws them.
 */
import { CHAR_W } from './layout';
import type { FlowStep } from './protocol';

const KIND_LABEL: Record<string, string> = {
  start: 'start',
  linear: 'step',
  split: 'split',
  foreach: 'foreach',
  switch: 'switch',
  join: 'join',
  end: 'end',
};

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function kindText(step: FlowStep): string {
  const kind = KIND_LABEL[step.kind] ?? step.kind;
  const splits = step.status?.num_splits;
  return step.kind === 'foreach' && typeof splits === 'number' ? `${kind} ×${splits}` : kind;
}

/** The status in a few words for the node (`✓ spin 12 ms`, `✗ line 23`, `⟳ 3/8`). */
export function statusShort(step: FlowStep): string {
  const s = step.status;
  if (!s) return '';
  switch (s.state) {
    case 'ok':
      return `✓ ${s.source ?? ''} ${duration(s.duration_ms)}`.replace(/\s+/g, ' ').trim();
    case 'failed':
      return `✗ failed${s.error_line ? ` · line ${s.error_line}` : ''}`;
    case 'running':
      return typeof s.tasks_total === 'number' && s.tasks_total > 0
        ? `⟳ ${s.tasks_done ?? 0}/${s.tasks_total}`
        : '⟳ running';
    case 'never':
      return '○ never run';
    case 'stale':
      return '◌ stale';
    default:
      return String(s.state);
  }
}

/** The status in full, for the node's tooltip and screen readers. */
export function statusLong(step: FlowStep): string {
  const s = step.status;
  if (!s) return 'no status';
  const from = s.source ? ` (latest ${s.source})` : '';
  switch (s.state) {
    case 'ok':
      return `ok${from}${s.duration_ms !== null && s.duration_ms !== undefined ? `, ${duration(s.duration_ms)}` : ''}`;
    case 'failed':
      return `failed${from}${s.error_line ? ` at line ${s.error_line}` : ''}${s.reason ? `: ${s.reason}` : ''}`;
    case 'running':
      return `running${from}${typeof s.tasks_total === 'number' ? `, ${s.tasks_done ?? 0} of ${s.tasks_total} tasks done` : ''}`;
    case 'never':
      return 'never run or spun';
    case 'stale':
      return `stale${s.reason ? `: ${s.reason}` : ''}`;
    default:
      return String(s.state);
  }
}

export function fit(text: string, width: number): string {
  const max = Math.floor((width - 24) / CHAR_W);
  return text.length > max ? `${text.slice(0, Math.max(1, max - 1))}…` : text;
}
