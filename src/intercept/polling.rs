//! Engine.IO long-polling bodies on the intercept path.
