// Starts the NHS.UK frontend components; every page works without this.
import { initAll } from './nhsuk-frontend.min.js'

initAll()
