console.log("acme edge");
