//! honestcam
