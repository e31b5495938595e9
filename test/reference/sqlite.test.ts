// The reference servers' end-to-end suite on the embedded SQLite store.
import { serverSuite } from './suite.js';

serverSuite('sqlite');
