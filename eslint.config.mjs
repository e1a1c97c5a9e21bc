// `npm run lint` (make lint): the config is in tools/eslint/config.mjs, see there why.
export { default } from './tools/eslint/config.mjs';
