// The portal's Calls page in Debian's chromium: how long until the first page of calls is on
// screen, on a cold load (the default "Today") and after choosing "This month" (the whole month
// the bench generated). Medians of 5; undefined when there is no browser on this machine.
import { hasBrowser, launchBrowser } from '../test/helpers/browser.js';
import { median } from './harness.js';

const ROWS_SHOWN = 'table.calls tbody tr';

export async function measurePortal(
  base: string,
  apiKey: string,
): Promise<{ coldMs: number; monthMs: number } | undefined> {
  if (!hasBrowser()) return undefined;
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(base);
    await page.getByLabel('API key').fill(apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator(ROWS_SHOWN).first().waitFor();
    const settled = () =>
      page.waitForFunction(
        (selector) => document.querySelector(selector) && !document.querySelector('.state[role=status]'),
        ROWS_SHOWN,
      );
    const cold: number[] = [];
    const month: number[] = [];
    for (let i = 0; i < 5; i++) {
      let start = performance.now();
      await page.reload();
      await settled();
      cold.push(performance.now() - start);

      start = performance.now();
      const response = page.waitForResponse((r) => r.url().includes('/cdrs?'));
      await page.getByRole('radio', { name: 'This month' }).click();
      await (await response).finished();
      await settled();
      month.push(performance.now() - start);
    }
    return { coldMs: median(cold), monthMs: median(month) };
  } finally {
    await browser.close();
  }
}
