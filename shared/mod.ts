/** mcdsl: the standard library every Metacircular service imports. @module */
