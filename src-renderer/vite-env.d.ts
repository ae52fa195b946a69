/// <reference types="vite/client" />

// base/errors.ts (bundled through the contract for its list of error codes) names this one Node
// type; declaring just it keeps every other Node global out of the renderer's type-check.
declare namespace NodeJS {
  interface ErrnoException extends Error {
    code?: string | undefined;
  }
}
